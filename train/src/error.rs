//! The error type of the training crate. Every variant names the file (and line, where there is
//! one) so that the binary can print an actionable message.

use std::path::PathBuf;

use crate::data::Issue;

/// Errors of dataset reading, label noise, training and export.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A required file or folder of a dataset is missing.
    #[error("{}: not found ({what})", path.display())]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// What it should have been.
        what: String,
    },
    /// A file has a structure this crate cannot read (a wrong header, an unknown format).
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line, where the problem is on one line.
        line: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The dataset format could not be detected.
    #[error("{}: no known dataset layout found ({hint})", path.display())]
    UnknownFormat {
        /// The folder or file.
        path: PathBuf,
        /// What was looked for.
        hint: String,
    },
    /// With `--strict`, the first problem that would otherwise have been skipped.
    #[error("{0} (strict mode: problems are errors)")]
    Strict(Issue),
    /// A dataset, after skips and protocol exclusions, has no sample at all.
    #[error("{}: no usable {what}", path.display())]
    Empty {
        /// The dataset root or label file.
        path: PathBuf,
        /// What is empty ("images", "training labels", ...).
        what: String,
    },
    /// An argument is out of its range.
    #[error("{0}")]
    InvalidArgument(String),
    /// No usable compute device.
    #[error("{0}")]
    Device(String),
    /// A checkpoint, model or optimizer file could not be written or read.
    #[error("{}: {reason}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Pretrained weights do not fit the model.
    #[error("{}: {reason}", path.display())]
    Weights {
        /// The weight file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// The loss became NaN or infinite.
    #[error("the loss became {value} at epoch {epoch}, step {step}: training stopped; {}", match checkpoint {
        Some(p) => format!("the last good checkpoint is {}", p.display()),
        None => "no checkpoint was written yet".to_string(),
    })]
    Diverged {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// The loss value.
        value: f32,
        /// The last checkpoint written.
        checkpoint: Option<PathBuf>,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an `std::io::Result`.
pub(crate) trait IoContext<T> {
    /// Maps the error to [`Error::Io`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
