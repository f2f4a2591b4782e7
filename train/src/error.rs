//! The error type of the training crate. Every variant names the file (and line, where there is
//! one) so that the binary can print an actionable message.

use std::path::PathBuf;

use crate::data::Issue;

/// Errors of dataset reading, label noise, training and export.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
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

/// A file or folder that could not be read or written. Its message is the path; the operating
/// system's error is its source (`{:#}` in anyhow, or [`report`], prints both).
#[derive(Debug, thiserror::Error)]
#[error("{}", path.display())]
pub struct IoError {
    /// The file or folder.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// `source`, about `path`.
    pub fn new(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError {
            path: path.into(),
            source,
        }
    }
}

/// Attaches a path to an `std::io::Result` (for this crate's and the runtime's errors alike:
/// both convert from [`IoError`]).
pub trait IoContext<T> {
    /// Maps the error to an [`IoError`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T, IoError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, IoError> {
        self.map_err(|source| IoError::new(path, source))
    }
}

/// An error and its sources in one line, `outer: inner: innermost`, as anyhow's `{:#}`; for
/// log lines of library code.
pub fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        let part = source.to_string();
        // A source whose text the message already ends with (an error that prints its own
        // source) is not printed twice.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_names_the_path_once_and_the_cause_once() {
        let path = "/nonexistent/scn/labels.csv";
        let os = std::fs::read(path).unwrap_err().to_string();
        let error = Error::from(std::fs::read(path).at(path).unwrap_err());
        assert_eq!(error.to_string(), path);
        assert_eq!(report(&error), format!("{path}: {os}"));
        // What anyhow's {:#} prints in the binary: the same, once.
        assert_eq!(format!("{:#}", anyhow::Error::from(error)), format!("{path}: {os}"));
    }
}
