//! `scn-train`: the Self-Cure Network's training side, and the contract between training and
//! the runtime.
//!
//! Without its `burn` feature (as the edge runtime builds it) this crate is that shared
//! contract and nothing heavier: the model metadata an exported ONNX file carries
//! ([`metadata`]: classes, input size and normalisation, face template, attention calibration),
//! the input preprocessing both sides must do alike ([`data::input`]), the expression datasets
//! and their label orders ([`data`]), synthetic label noise and the metrics. With `burn` (the
//! `scn` binary's default `train` feature) it adds the model, losses, relabeling, training loop,
//! checkpoints and ONNX export.

#![deny(missing_docs)]

#[cfg(feature = "burn")]
pub mod checkpoint;
pub mod config;
pub mod contain;
pub mod data;
#[cfg(feature = "burn")]
pub mod device;
pub mod distill;
#[cfg(feature = "burn")]
pub mod dlib_dat;
pub mod error;
#[cfg(feature = "burn")]
pub mod export;
#[cfg(feature = "burn")]
pub mod face_api;
pub mod fsutil;
#[cfg(feature = "burn")]
pub mod import;
#[cfg(feature = "burn")]
pub mod loss;
pub mod metadata;
pub mod metrics;
#[cfg(feature = "burn")]
pub mod model;
pub mod relabel;
pub mod run_state;
#[cfg(feature = "burn")]
pub mod trainer;
#[cfg(feature = "burn")]
pub mod weights;

pub use error::{Error, Result};

/// The burn version this crate trains with, for callers that build models or tensors.
#[cfg(feature = "burn")]
pub use burn;
