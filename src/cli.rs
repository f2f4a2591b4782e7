//! Command-line arguments (clap derive). Only parsing lives here; `cmd` validates and runs.

#[cfg(feature = "train")]
use std::path::PathBuf;

#[cfg(feature = "train")]
use clap::Args;
use clap::{Parser, Subcommand};

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
    #[cfg(feature = "train")]
    #[command(subcommand)]
    Data(DataCommand),
}

/// `scn data ...`
#[cfg(feature = "train")]
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Read a whole dataset, decode every image, print counts per split and class and every
    /// problem found. Exits with status 1 if the dataset has any problem.
    Check(CheckArgs),
    /// Write a copy of a label file with a fraction of each class's training labels flipped to
    /// another class at random (the SCN paper's synthetic noise), and a record of the flips.
    Noise(NoiseArgs),
}

/// How to open a dataset (shared by the commands that read one).
#[cfg(feature = "train")]
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Dataset folder (or fer2013.csv).
    pub data: PathBuf,
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
#[cfg(feature = "train")]
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
#[cfg(feature = "train")]
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
