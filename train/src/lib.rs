//! `scn-train`: everything of the Self-Cure Network that runs at training time: expression
//! datasets and their label orders, synthetic label noise, and (with burn) the model, losses,
//! relabeling, training loop and ONNX export.
//!
//! The `scn` binary uses this crate behind its default `train` feature; the live runtime builds
//! without it.

#![deny(missing_docs)]

#[cfg(feature = "burn")]
pub mod checkpoint;
pub mod config;
pub mod data;
#[cfg(feature = "burn")]
pub mod device;
pub mod error;
#[cfg(feature = "burn")]
pub mod export;
#[cfg(feature = "burn")]
pub mod face_api;
pub mod fsutil;
#[cfg(feature = "burn")]
pub mod loss;
pub mod metadata;
pub mod metrics;
#[cfg(feature = "burn")]
pub mod model;
pub mod relabel;
#[cfg(feature = "burn")]
pub mod trainer;
#[cfg(feature = "burn")]
pub mod weights;

pub use error::{Error, Result};

/// The burn version this crate trains with, for callers that build models or tensors.
#[cfg(feature = "burn")]
pub use burn;
