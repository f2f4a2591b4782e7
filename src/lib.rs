//! `scn`: real-time facial expression recognition with the Self-Cure Network.
//!
//! This library is the part of scn that every build has, the edge runtime included: the
//! classifier (an exported model run with tract), evaluation, face detection and alignment,
//! frame sources (camera, video, images), tracking, the live window, drawing and plots. It re-exports
//! the training crate as [`train`]: its dataset readers, preprocessing and metadata always, and
//! with the default `train` feature also burn's model, training loop and ONNX export. The `scn`
//! binary is a thin layer over both.

#![deny(missing_docs)]

pub mod classifier;
pub mod default_model;
pub mod draw;
pub mod error;
pub mod evaluate;
pub mod face;
pub mod output;
pub mod overlay;
pub mod plot;
pub mod recognizer;
pub mod source;
pub mod teacher;
pub mod track;
pub mod window;

pub use classifier::{Classifier, ModelOverrides, Prediction};
pub use error::{Error, Result};
pub use scn_train as train;
