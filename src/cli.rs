//! Command-line arguments (clap derive). Only parsing lives here; `cmd` validates and runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Facial expression recognition with the Self-Cure Network (SCN, CVPR 2020).
#[derive(Debug, Parser)]
#[command(name = "scn", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect datasets and make noisy label files.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train SCN (or the --baseline) on a dataset, on a GPU through wgpu or on the CPU (flex).
    #[cfg(feature = "train")]
    Train(Box<TrainArgs>),
    /// Write a trained checkpoint as an ONNX model with the metadata the runtime needs.
    #[cfg(feature = "train")]
    Export(ExportArgs),
    /// Classify face images with an exported model: a table, or JSON lines.
    Predict(PredictArgs),
    /// Accuracy of an exported model on a dataset split: per class, confusion matrix (text and
    /// PNG), throughput.
    Eval(EvalArgs),
    /// Live recognition: faces found, aligned and classified in camera frames, a video file or
    /// images, shown in a window and/or written as JSON lines and annotated frames.
    Run(Box<RunArgs>),
}

/// `scn run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The expression model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Camera index or (part of its) name [default: 0 when no --video or --images is given].
    #[arg(long, value_name = "INDEX|NAME", conflicts_with_all = ["video", "images"])]
    pub camera: Option<String>,
    /// A video file (read through ffmpeg, which must be on the PATH).
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    pub video: Option<PathBuf>,
    /// Image files or folders of images, one frame each.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// List the cameras and exit.
    #[arg(long)]
    pub list: bool,
    /// Camera frame size to ask for, WIDTHxHEIGHT (the closest offered is used).
    #[arg(long, default_value = "640x480", value_name = "WxH")]
    pub resolution: String,
    /// Camera frame rate to ask for.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Seconds to keep trying to reopen a camera that stopped delivering frames.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub reconnect: f64,
    /// Smallest face to find, in pixels of the frame (smaller is slower).
    #[arg(long, default_value_t = 40.0, value_name = "PIXELS")]
    pub min_face: f32,
    /// Face score threshold of the detector's last stage (0-1).
    #[arg(long, default_value_t = 0.9)]
    pub face_threshold: f32,
    /// Search the whole frame for faces every N frames; in between, follow the faces found
    /// (much faster; new faces appear up to N-1 frames late). 1: search every frame.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub detect_every: usize,
    /// Most faces classified per frame (the largest are kept).
    #[arg(long, default_value_t = 8)]
    pub max_faces: usize,
    /// Frames each face's probabilities are averaged over.
    #[arg(long, default_value_t = 5, value_name = "FRAMES")]
    pub smooth: usize,
    /// No smoothing: every frame's own probabilities.
    #[arg(long)]
    pub raw: bool,
    /// No window (headless: use --json and/or --save).
    #[arg(long)]
    pub no_window: bool,
    /// One JSON object per frame on stdout: every face's box, landmarks, probabilities, alpha,
    /// certainty and track id, and the time per stage.
    #[arg(long)]
    pub json: bool,
    /// Write each annotated frame as a PNG into this folder.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub max_frames: Option<u64>,
    /// Process video files as fast as possible in the window too (default there: the video's
    /// own speed).
    #[arg(long)]
    pub fast: bool,
    /// Threads for inference [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `scn export`
#[cfg(feature = "train")]
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A training output folder (its best/ model is exported, else its latest checkpoint), or
    /// one checkpoint folder (best/, checkpoints/epoch-NNNN).
    pub checkpoint: PathBuf,
    /// The ONNX file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Where the faces of the training images sit: fer2013, rafdb, or a JSON file
    /// ({"size": S, "landmarks": [[x, y] x 5], "source": "..."}) [default: the run's dataset's].
    #[arg(long, value_name = "NAME|FILE")]
    pub face_template: Option<String>,
    /// Keep BatchNorm as separate operations (default: folded into the convolutions).
    #[arg(long)]
    pub keep_batch_norm: bool,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// The model to run and what to assume where it carries no scn metadata.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// The ONNX model (written by `scn export`, or any image classifier with --classes)
    /// [default: $SCN_MODEL, else models/scn-ferplus.onnx].
    #[arg(short, long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Class names in output order, comma-separated (required for models without metadata).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub classes: Option<Vec<String>>,
    /// Input side in pixels (models without metadata and a dynamic input shape).
    #[arg(long)]
    pub input_size: Option<u32>,
    /// Input channels, 1 or 3 (models without metadata and a dynamic input shape).
    #[arg(long)]
    pub channels: Option<u32>,
    /// Per-channel mean after scaling to [0, 1], comma-separated [default: 0.5 grey, ImageNet RGB].
    #[arg(long, value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, comma-separated [default: 0.5 grey, ImageNet RGB].
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// Input memory order: nchw or nhwc [default: from the input shape].
    #[arg(long)]
    pub layout: Option<String>,
    /// The class output holds probabilities already (a model ending in softmax).
    #[arg(long)]
    pub probabilities: bool,
    /// Also classify every face mirrored left to right and average the two outputs
    /// (test-time augmentation: usually a little more accurate, twice the classification work).
    #[arg(long)]
    pub flip: bool,
}

/// `scn predict`
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Face images (crops: the whole image is classified), or folders of them.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// One JSON object per image instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Classes to show per image in the table, most probable first.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
}

/// `scn eval`
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Dataset folder (or fer2013.csv).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// How to read it.
    #[command(flatten)]
    pub open: OpenArgs,
    /// Split to evaluate: train, valid or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Faces per inference call.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Write the confusion matrix PNG here [default: none].
    #[arg(long, value_name = "FILE")]
    pub confusion: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `scn train`
#[cfg(feature = "train")]
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The dataset.
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Output folder: checkpoints, best model, metrics.jsonl, curves.png, confusion.png.
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (its settings are kept; --epochs can
    /// raise the total).
    #[arg(long)]
    pub resume: bool,
    /// Start over in an --out that holds an earlier run.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// auto (a real GPU if there is one, else CPU), wgpu, or flex (CPU).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Settings to start from: official (the official code) or paper.
    #[arg(long, default_value = "official")]
    pub preset: String,
    /// A JSON config file instead of a preset (see train/configs/).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Input side in pixels (224 as the paper; 48-64 for FER2013-size images).
    #[arg(long)]
    pub input_size: Option<u32>,
    /// Input channels: 1 (grey, mean/std 0.5) or 3 (RGB, ImageNet mean/std).
    #[arg(long)]
    pub channels: Option<u32>,
    /// Backbone width: 64 is ResNet-18; 32 or 16 make smaller, faster models.
    #[arg(long)]
    pub width: Option<usize>,
    /// How the backbone shrinks the input before its first stage: standard (7x7/2 conv and
    /// max pool, torchvision's), no-pool (the conv without the pool: 4x the compute, for
    /// 48-64 px faces) or cifar (3x3/1 conv, no pool: 16x).
    #[arg(long, value_name = "STEM")]
    pub stem: Option<scn_train::config::Stem>,
    /// Dropout before the heads.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Plain cross-entropy: no attention, rank regularization or relabeling.
    #[arg(long)]
    pub baseline: bool,
    /// Relabel candidates: paper (low-importance group) or official (whole batch).
    #[arg(long)]
    pub relabel_mode: Option<String>,
    /// First epoch that relabels.
    #[arg(long)]
    pub relabel_epoch: Option<usize>,
    /// Switch relabeling off.
    #[arg(long)]
    pub no_relabel: bool,
    /// Relabel by probabilities divided by each class's share of the training labels, so the
    /// most frequent class does not attract the relabels (off: the paper)
    #[arg(long, conflicts_with = "no_relabel")]
    pub relabel_prior: bool,
    /// Fraction of each batch in the high-importance group.
    #[arg(long)]
    pub beta: Option<f64>,
    /// Rank-regularization margin.
    #[arg(long)]
    pub margin_1: Option<f64>,
    /// Relabeling margin.
    #[arg(long)]
    pub margin_2: Option<f64>,
    /// Combine losses as the paper, gamma * RR + (1 - gamma) * WCE, instead of WCE + RR.
    #[arg(long)]
    pub gamma: Option<f64>,
    /// No augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Add a random affine warp to the augmentation: rotation up to this many degrees, scale
    /// 0.9-1.1 and shifts up to 10% (off in the presets, as the official code)
    #[arg(long, value_name = "DEGREES", conflicts_with = "no_augment")]
    pub affine: Option<f64>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Split to validate on and pick the best epoch by [default: valid, else test].
    #[arg(long)]
    pub val_split: Option<String>,
    /// Pretrained backbone: torchvision ResNet-18 (.pth/.pt/.safetensors), the SCN authors'
    /// MS-Celeb checkpoint, or an official SCN checkpoint.
    #[arg(long, value_name = "FILE")]
    pub pretrained: Option<PathBuf>,
    /// Accept pretrained weights that lack some backbone parameters.
    #[arg(long, requires = "pretrained")]
    pub allow_partial: bool,
    /// A flip record of `scn data noise`: report each epoch how many flipped labels relabeling
    /// restored.
    #[arg(long, value_name = "FILE")]
    pub noise_record: Option<PathBuf>,
    /// Stop each epoch after N steps (smoke tests, timing).
    #[arg(long, value_name = "N")]
    pub max_steps: Option<usize>,
}

/// `scn data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Read a whole dataset, decode every image, print counts per split and class and every
    /// problem found. Exits with status 1 if the dataset has any problem.
    Check(CheckArgs),
    /// Write a copy of a label file with a fraction of each class's training labels flipped to
    /// another class at random (the SCN paper's synthetic noise), and a record of the flips.
    Noise(NoiseArgs),
    /// Measure where the faces of a dataset's images sit (median MTCNN landmarks): a face
    /// template for `scn export --face-template FILE`, so that `scn run` aligns live faces
    /// like the training images.
    Template(TemplateArgs),
}

/// `scn data template`
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// The dataset.
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Split to measure on.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Most images to measure (spread evenly over the split).
    #[arg(long, default_value_t = 2000)]
    pub limit: usize,
    /// Write the template as JSON here (default: print it).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A dataset (shared by the commands that read one).
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Dataset folder (or fer2013.csv).
    pub data: PathBuf,
    /// How to read it.
    #[command(flatten)]
    pub open: OpenArgs,
}

/// How to read a dataset.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Dataset layout: rafdb, ferplus, fer2013 or folder [default: detected].
    #[arg(long)]
    pub format: Option<String>,
    /// FERPlus labels: majority, probability or crossentropy (FER+ paper).
    #[arg(long, default_value = "majority")]
    pub label_mode: String,
    /// RAF-DB images: aligned (100x100, as SCN) or original.
    #[arg(long, default_value = "aligned")]
    pub rafdb_images: String,
    /// Label file to use for the training split instead of the dataset's own (e.g. one written
    /// by `scn data noise`).
    #[arg(long, value_name = "FILE")]
    pub train_labels: Option<PathBuf>,
    /// Treat every problem (malformed line, missing or corrupt image, duplicate) as an error
    /// instead of skipping the item.
    #[arg(long)]
    pub strict: bool,
}

/// `scn data check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The dataset.
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Problems to list in the text report (all are counted).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_issues: usize,
}

/// `scn data noise`
#[derive(Debug, Args)]
pub struct NoiseArgs {
    /// Label file: RAF-DB list_patition_label.txt, FERPlus label.csv, fer2013.csv or
    /// fer2013_original_labels.csv (format detected from its first line).
    pub labels: PathBuf,
    /// Fraction of each class's training labels to flip (the paper uses 0.1, 0.2, 0.3).
    #[arg(long)]
    pub ratio: f64,
    /// Random seed: the same seed gives the same flips.
    #[arg(long)]
    pub seed: u64,
    /// The noisy label file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Where to record the flips [default: OUTPUT's name with .flips.csv].
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}
