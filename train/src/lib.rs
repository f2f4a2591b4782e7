//! `scn-train`: everything of the Self-Cure Network that runs at training time: expression
//! datasets and their label orders, synthetic label noise, and (with burn) the model, losses,
//! relabeling, training loop and ONNX export.
//!
//! The `scn` binary uses this crate behind its default `train` feature; the live runtime builds
//! without it.

#![deny(missing_docs)]

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
mod fsutil;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod relabel;
pub mod trainer;
pub mod weights;

pub use error::{Error, Result};
