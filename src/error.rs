//! The error type of the runtime library. Every variant names the file (or the model) it is
//! about, so that the binary can print an actionable message.

use std::path::PathBuf;

/// Errors of model loading, preprocessing and inference.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] scn_train::error::IoError),
    /// The file is not an ONNX model.
    #[error("{}: not an ONNX model ({reason})", path.display())]
    NotOnnx {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The model is ONNX but does not look like an expression classifier this runtime can run.
    #[error("{}: {reason}", path.display())]
    Model {
        /// The model file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// The model's metadata is missing or wrong, and the user did not supply the values.
    #[error("{}: {problem}{hint}", path.display())]
    Metadata {
        /// The model file.
        path: PathBuf,
        /// The problem (part of this message, so not a separate source).
        problem: scn_train::metadata::MetadataError,
        /// What the user can pass instead.
        hint: String,
    },
    /// The inference engine failed on an input.
    #[error("inference failed: {0}")]
    Inference(String),
    /// An argument is out of range.
    #[error("{0}")]
    InvalidArgument(String),
    /// A dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] scn_train::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub use scn_train::error::IoContext;
