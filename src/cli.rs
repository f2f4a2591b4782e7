//! Command-line arguments (clap derive). Only parsing lives here; `cmd` validates and runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Compare training runs: their curves on shared axes (PNG) and a table of their best and
    /// last epochs.
    #[cfg(feature = "train")]
    Compare(CompareArgs),
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
    /// Play the video again from the start whenever it ends (a demo that runs until stopped;
    /// with --max-frames, a soak test).
    #[arg(long = "loop")]
    pub looping: bool,
    /// Image files or folders of images, one frame each.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// List the cameras and exit.
    #[arg(long)]
    pub list: bool,
    /// Camera frame size to ask for, WIDTHxHEIGHT (the closest offered is used).
    #[arg(long, default_value = "640x480", value_name = "WxH", value_parser = parse_resolution)]
    pub resolution: (u32, u32),
    /// Camera frame rate to ask for.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Seconds to keep trying to reopen a camera that stopped delivering frames.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub reconnect: f64,
    /// The face detector.
    #[arg(long, value_enum, ignore_case = true, default_value = "retinaface")]
    pub detector: DetectorArg,
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

/// `scn compare`
#[cfg(feature = "train")]
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Training output folders (their metrics.jsonl is read) or metrics.jsonl files.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// The PNG to write: validation and training accuracy, loss, and with a noise record the
    /// flipped images' answers and the attention weight's AUROC, one line per run.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
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
    #[arg(long, value_enum, ignore_case = true)]
    pub layout: Option<LayoutArg>,
    /// The class output holds probabilities already (a model ending in softmax).
    #[arg(long)]
    pub probabilities: bool,
    /// Also classify every face mirrored left to right and average the two outputs
    /// (test-time augmentation, twice the classification work: up to 2.7 points for weaker
    /// models, level for the shipped default on FERPlus; RESULTS.md).
    #[arg(long)]
    pub flip: bool,
    /// Balance frequent and rare expressions: add -TAU * ln(share of the class in the training
    /// labels) to each class's score (logit adjustment). 0 is the model as trained; 0.25 gives
    /// the default model 2.6 points of mean class accuracy for 1.4 of overall accuracy on
    /// FERPlus test, the small model 5.5 for 0.3 (RESULTS.md). 0-2.
    #[arg(long, value_name = "TAU", default_value_t = 0.0)]
    pub balance: f32,
}

/// `scn predict`
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Photos or face crops, or folders of them. The faces of a photo are found and aligned
    /// as `scn run` does; an image no larger than twice the model's input side is a crop and
    /// classified whole.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Classify every image whole, as a face crop, without looking for faces.
    #[arg(long)]
    pub crop: bool,
    /// The face detector.
    #[arg(long, value_enum, ignore_case = true, default_value = "retinaface")]
    pub detector: DetectorArg,
    /// Smallest face to find, in pixels of the image.
    #[arg(long, default_value_t = 20.0, value_name = "PIXELS")]
    pub min_face: f32,
    /// Face score threshold of the detector's last stage (0-1). Higher than `scn run`'s 0.9:
    /// a photo has no next frame to confirm a face (on the fixture photos, real faces score
    /// 0.999 and more, a desk corner 0.94).
    #[arg(long, default_value_t = 0.95)]
    pub face_threshold: f32,
    /// Most faces classified per image (the largest are kept).
    #[arg(long, default_value_t = 32)]
    pub max_faces: usize,
    /// One JSON object per image (its faces with boxes, landmarks and probabilities) instead
    /// of a table.
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
    /// The dataset.
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Split to evaluate.
    #[arg(long, value_enum, ignore_case = true, default_value = "test")]
    pub split: SplitArg,
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
    /// Continue the run in --out from its last checkpoint (its settings are kept, and any given
    /// otherwise are named in a warning; --epochs can raise the total).
    #[arg(long)]
    pub resume: bool,
    /// Start over in an --out that holds an earlier run.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Where to train: auto (a real GPU through wgpu if there is one, else the CPU), wgpu, or
    /// flex (burn's CPU backend).
    #[arg(long, value_enum, ignore_case = true, default_value = "auto")]
    pub device: DeviceArg,
    /// Settings to start from: official (the official code) or paper.
    #[arg(long, value_enum, ignore_case = true, default_value = "official")]
    pub preset: PresetArg,
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
    /// The network under SCN's heads [default: the config's, resnet18 in the presets].
    #[arg(long, value_enum, ignore_case = true)]
    pub backbone: Option<BackboneArg>,
    /// Backbone width: 64 is ResNet-18; 32 or 16 make smaller, faster models.
    #[arg(long)]
    pub width: Option<usize>,
    /// How the backbone shrinks the input before its first stage [default: the config's,
    /// standard in the presets].
    #[arg(long, value_enum, ignore_case = true)]
    pub stem: Option<StemArg>,
    /// Dropout before the heads.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Plain cross-entropy: no attention, rank regularization or relabeling.
    #[arg(long)]
    pub baseline: bool,
    /// Relabel candidates: paper (the low-importance group) or official (the whole batch).
    #[arg(long, value_enum, ignore_case = true)]
    pub relabel_mode: Option<RelabelModeArg>,
    /// First epoch that relabels.
    #[arg(long)]
    pub relabel_epoch: Option<usize>,
    /// Switch relabeling off.
    #[arg(long)]
    pub no_relabel: bool,
    /// Relabel by probabilities divided by each class's share of the labels in use (floored at
    /// the uniform share), so the most frequent class does not attract the relabels (off: the
    /// paper)
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
    /// Label smoothing: train towards (1 - EPS) * target + EPS / classes (hard labels, FER+
    /// vote distributions and relabeled images alike) [default: the config's, 0 in the presets].
    #[arg(long, value_name = "EPS")]
    pub label_smoothing: Option<f64>,
    /// The backbone's learning rate as a share of the heads' (below 1 for fine-tuning a
    /// pretrained backbone; 0 keeps its loaded weights) [default: the config's, else 1].
    #[arg(long, value_name = "SHARE")]
    pub backbone_lr_scale: Option<f64>,
    /// Knowledge distillation: train towards (1 - W) * label + W * this model's probabilities
    /// (an exported scn model, e.g. models/scn-ferplus.onnx, run once over the training images
    /// before the first epoch; a resumed run reads them from its folder). Give it more than once
    /// to distill an ensemble: the mean of the models' probabilities.
    #[arg(long, value_name = "MODEL")]
    pub distill: Vec<PathBuf>,
    /// The teacher's share W of each target with --distill [default: the config's, else 0.5].
    #[arg(long, value_name = "W")]
    pub distill_weight: Option<f64>,
    /// Divide the teacher's scores by T before its softmax (above 1: softer targets) [default:
    /// the config's, else 1].
    #[arg(long, value_name = "T")]
    pub distill_temperature: Option<f64>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Split to validate on and pick the best epoch by (any split the dataset has; with
    /// `test`, the final test figure is no longer held out) [default: valid if the dataset has
    /// one, else test].
    #[arg(long, value_enum, ignore_case = true)]
    pub val_split: Option<SplitArg>,
    /// Pretrained backbone: torchvision ResNet-18 (.pth/.pt/.safetensors), the SCN authors'
    /// MS-Celeb checkpoint, an official SCN checkpoint, or (with --backbone dlib) dlib's network:
    /// face-api.js's weights manifest (models/face-api, 8-bit) or dlib's own full-precision
    /// dlib_face_recognition_resnet_model_v1.dat.
    #[arg(long, value_name = "FILE")]
    pub pretrained: Option<PathBuf>,
    /// Accept pretrained weights that lack some backbone parameters.
    #[arg(long, requires = "pretrained")]
    pub allow_partial: bool,
    /// Start from the whole network of an earlier scn run (its folder: best/ is taken; or one of
    /// its checkpoint folders) or of a model `scn export` wrote (e.g. models/scn-ferplus.onnx),
    /// with a fresh optimizer and this run's schedule: a warm restart, or fine-tuning on other
    /// data. The network settings must match. On other classes (a FERPlus model for a FER2013
    /// run) the classes both have keep their classifier, matched by name, and new ones start
    /// fresh. With --resume it is read only if the run stopped before its first checkpoint.
    #[arg(long, value_name = "RUN|MODEL", conflicts_with = "pretrained")]
    pub init_from: Option<PathBuf>,
    /// A flip record of `scn data noise`: report each epoch how many flipped labels relabeling
    /// restored, how many labels are wrong now, how the attention weighs the wrong ones, and
    /// how often the flipped images were answered with their wrong label (memorised noise).
    #[arg(long, value_name = "FILE")]
    pub noise_record: Option<PathBuf>,
    /// Stop each epoch after N steps (smoke tests, timing).
    #[arg(long, value_name = "N")]
    pub max_steps: Option<usize>,
    /// Epoch checkpoints to keep, the newest (0: every epoch's, to export or start from any
    /// of them later; a 150 px dlib checkpoint is about 65 MB).
    #[arg(long, value_name = "N", default_value_t = scn::train::checkpoint::DEFAULT_KEEP)]
    pub keep_checkpoints: usize,
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
    /// Measure where the faces of a dataset's images sit (median landmarks of `--detector`): a face
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
    #[arg(long, value_enum, ignore_case = true, default_value = "train")]
    pub split: SplitArg,
    /// Most images to measure (spread evenly over the split).
    #[arg(long, default_value_t = 2000)]
    pub limit: usize,
    /// The face detector that places the landmarks (use the one `scn run` will align with).
    #[arg(long, value_enum, ignore_case = true, default_value = "retinaface")]
    pub detector: DetectorArg,
    /// Write the template as JSON here (default: print it).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A dataset (shared by the commands that read one: data check/template, train, eval), given
/// as the first positional argument or as `--data`.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Dataset folder (or fer2013.csv).
    #[arg(value_name = "DATA", required_unless_present = "data_flag")]
    data_arg: Option<PathBuf>,
    /// The dataset, as a flag (the same as the positional DATA).
    #[arg(long = "data", id = "data_flag", value_name = "DATA", conflicts_with = "data_arg")]
    data_flag: Option<PathBuf>,
    /// How to read it.
    #[command(flatten)]
    pub open: OpenArgs,
}

impl DatasetArgs {
    /// The dataset path, however it was given.
    pub fn data(&self) -> &std::path::Path {
        self.data_arg
            .as_deref()
            .or(self.data_flag.as_deref())
            .unwrap_or(std::path::Path::new("."))
    }
}

/// How to read a dataset.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Dataset layout [default: detected from the folder].
    #[arg(long, value_enum, ignore_case = true)]
    pub format: Option<FormatArg>,
    /// FERPlus labels, as the FER+ paper: majority (one class per image, the benchmark
    /// protocol), probability (a class drawn from the votes each epoch) or crossentropy (the
    /// vote distribution as a soft target).
    #[arg(long, value_enum, ignore_case = true, default_value = "majority")]
    pub label_mode: LabelModeArg,
    /// RAF-DB images: aligned (100x100, as SCN) or original.
    #[arg(long, value_enum, ignore_case = true, default_value = "aligned")]
    pub rafdb_images: RafdbImagesArg,
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
    /// Flip each chosen label to another class with the odds a model confuses them: the true
    /// class's row of the confusion matrix in FILE (`scn eval --json` output; classes matched
    /// by name) [default: any other class, equal odds, as the SCN paper].
    #[arg(long, value_name = "FILE")]
    pub confusion: Option<PathBuf>,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses a frame size, "640x480".
fn parse_resolution(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("takes WIDTHxHEIGHT, got '{text}'"))?;
    match (w.trim().parse::<u32>(), h.trim().parse::<u32>()) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(format!("takes WIDTHxHEIGHT in pixels, got '{text}'")),
    }
}

/// Declares a command-line choice: an enum clap lists in `--help` and checks, and its
/// conversion into the library type it stands for.
macro_rules! choice {
    ($(#[$meta:meta])* $name:ident => $target:ty { $($(#[$vmeta:meta])* $variant:ident => $value:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl From<$name> for $target {
            fn from(choice: $name) -> $target {
                match choice {
                    $($name::$variant => $value),+
                }
            }
        }
    };
}

choice! {
    /// `--split`, `--val-split`.
    SplitArg => scn::train::data::Split {
        /// The training split.
        Train => scn::train::data::Split::Train,
        /// The validation split (FER2013 PublicTest, FERPlus Valid).
        #[value(alias = "val", alias = "validation")]
        Valid => scn::train::data::Split::Valid,
        /// The test split (FER2013 PrivateTest, FERPlus Test, RAF-DB test).
        Test => scn::train::data::Split::Test,
    }
}

choice! {
    /// `--format`.
    FormatArg => scn::train::data::Format {
        /// RAF-DB basic (EmoLabel/list_patition_label.txt, Image/aligned).
        #[value(alias = "raf")]
        Rafdb => scn::train::data::Format::Rafdb,
        /// FERPlus (FER2013Train|Valid|Test/label.csv with the crowd votes), 8 classes.
        #[value(alias = "fer+")]
        Ferplus => scn::train::data::Format::Ferplus,
        /// FER2013, 7 classes (fer2013.csv, or fer2013_original_labels.csv over FERPlus PNGs).
        Fer2013 => scn::train::data::Format::Fer2013,
        /// One sub-folder per class, optionally inside train/, val/, test/.
        Folder => scn::train::data::Format::Folder,
    }
}

choice! {
    /// `--label-mode`.
    LabelModeArg => scn::train::data::LabelMode {
        /// One class per image: the majority vote (the benchmark protocol).
        Majority => scn::train::data::LabelMode::Majority,
        /// A class drawn from the vote distribution each epoch.
        Probability => scn::train::data::LabelMode::Probability,
        /// The vote distribution as a soft target.
        #[value(alias = "cross-entropy")]
        Crossentropy => scn::train::data::LabelMode::Crossentropy,
    }
}

choice! {
    /// `--rafdb-images`.
    RafdbImagesArg => scn::train::data::RafdbImages {
        /// Image/aligned: 100x100, 5-point aligned (the SCN setting).
        Aligned => scn::train::data::RafdbImages::Aligned,
        /// Image/original: the uncropped photos.
        Original => scn::train::data::RafdbImages::Original,
    }
}

choice! {
    /// `--detector`.
    DetectorArg => scn::face::DetectorKind {
        /// MTCNN: three small networks over an image pyramid.
        Mtcnn => scn::face::DetectorKind::Mtcnn,
        /// RetinaFace (MobileNet-0.25): one network, better on small, turned and dark faces.
        #[value(alias = "retina")]
        Retinaface => scn::face::DetectorKind::RetinaFace,
    }
}

choice! {
    /// `--layout`.
    LayoutArg => scn::classifier::Layout {
        /// Batch, channels, height, width.
        Nchw => scn::classifier::Layout::Nchw,
        /// Batch, height, width, channels.
        Nhwc => scn::classifier::Layout::Nhwc,
    }
}

#[cfg(feature = "train")]
choice! {
    /// `--device`.
    DeviceArg => scn::train::device::DeviceChoice {
        /// A real GPU through wgpu if there is one, else the CPU (flex).
        Auto => scn::train::device::DeviceChoice::Auto,
        /// wgpu (Vulkan, Metal, DX12) on the best adapter.
        Wgpu => scn::train::device::DeviceChoice::Wgpu,
        /// burn's flex CPU backend.
        #[value(alias = "cpu")]
        Flex => scn::train::device::DeviceChoice::Flex,
    }
}

#[cfg(feature = "train")]
choice! {
    /// `--preset`.
    PresetArg => scn::train::config::Preset {
        /// The official code's settings (Adam 1e-3, 70 epochs).
        Official => scn::train::config::Preset::Official,
        /// The paper's settings (SGD 0.1, 40 epochs).
        Paper => scn::train::config::Preset::Paper,
    }
}

#[cfg(feature = "train")]
choice! {
    /// `--relabel-mode`.
    RelabelModeArg => scn::train::relabel::RelabelMode {
        /// Only the batch's low-importance group may be relabeled (the paper).
        Paper => scn::train::relabel::RelabelMode::Paper,
        /// Any sample of the batch (the official code).
        Official => scn::train::relabel::RelabelMode::Official,
    }
}

#[cfg(feature = "train")]
choice! {
    /// `--backbone`.
    BackboneArg => scn::train::config::Backbone {
        /// ResNet-18 (the paper's; --width and --stem apply).
        Resnet18 => scn::train::config::Backbone::Resnet18,
        /// dlib's face-recognition ResNet: start from its face-pretrained weights with
        /// --pretrained models/face-api/face_recognition_model-weights_manifest.json (or dlib's
        /// dlib_face_recognition_resnet_model_v1.dat; input 103 px or more, 150 native).
        Dlib => scn::train::config::Backbone::Dlib,
    }
}

#[cfg(feature = "train")]
choice! {
    /// `--stem`.
    StemArg => scn::train::config::Stem {
        /// 7x7 stride-2 convolution and max pool (torchvision's): the input side / 4.
        Standard => scn::train::config::Stem::Standard,
        /// The convolution without the pool: side / 2, 4x the compute (48-64 px faces).
        NoPool => scn::train::config::Stem::NoPool,
        /// 3x3 stride-1 convolution, no pool: side / 1, 16x the compute.
        Cifar => scn::train::config::Stem::Cifar,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("scn").chain(args.iter().copied()))
    }

    #[test]
    fn resolutions_parse() {
        assert_eq!(parse_resolution("640x480").unwrap(), (640, 480));
        assert_eq!(parse_resolution("1280X720").unwrap(), (1280, 720));
        assert!(parse_resolution("640").is_err());
        assert!(parse_resolution("0x480").is_err());
        let err = parse(&["run", "--resolution", "big"]).unwrap_err().to_string();
        assert!(err.contains("--resolution") && err.contains("WIDTHxHEIGHT"), "{err}");
    }

    #[test]
    fn fixed_choices_are_checked_by_clap_and_listed() {
        let err = parse(&["data", "check", "d", "--format", "imagenet"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("imagenet") && err.contains("rafdb") && err.contains("ferplus") && err.contains("folder"),
            "{err}"
        );
        let Command::Data(DataCommand::Check(args)) =
            parse(&["data", "check", "d", "--format", "FER+"]).unwrap().command
        else {
            panic!("not data check")
        };
        assert_eq!(args.dataset.open.format, Some(FormatArg::Ferplus));
        assert_eq!(args.dataset.open.label_mode, LabelModeArg::Majority);
        let err = parse(&["data", "check", "d", "--label-mode", "votes"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("crossentropy"), "{err}");
        let err = parse(&["eval", "--data", "d", "--split", "holdout"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("valid") && err.contains("test"), "{err}");
        // The dataset: positional or --data, in every command that reads one.
        for args in [
            &["eval", "d"][..],
            &["eval", "--data", "d"],
            &["data", "check", "--data", "d"],
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let data = match &cli.command {
                Command::Eval(a) => a.dataset.data().to_path_buf(),
                Command::Data(DataCommand::Check(a)) => a.dataset.data().to_path_buf(),
                _ => unreachable!(),
            };
            assert_eq!(data, PathBuf::from("d"), "{args:?}");
        }
        assert!(parse(&["eval"]).is_err(), "a dataset is required");
        assert!(parse(&["eval", "d", "--data", "e"]).is_err(), "not twice");
    }

    #[cfg(feature = "train")]
    #[test]
    fn train_choices_convert_to_the_library_types() {
        let Command::Train(args) = parse(&[
            "train",
            "d",
            "-o",
            "r",
            "--device",
            "CPU",
            "--stem",
            "no-pool",
            "--relabel-mode",
            "official",
        ])
        .unwrap()
        .command
        else {
            panic!("not train")
        };
        assert_eq!(
            scn::train::device::DeviceChoice::from(args.device),
            scn::train::device::DeviceChoice::Flex
        );
        assert_eq!(
            scn::train::config::Stem::from(args.stem.unwrap()),
            scn::train::config::Stem::NoPool
        );
        let help = parse(&["train", "--help"]).unwrap_err().to_string();
        assert!(
            help.contains("auto") && help.contains("wgpu") && help.contains("flex"),
            "{help}"
        );
    }
}
