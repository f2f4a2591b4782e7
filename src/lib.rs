//! `scn`: real-time facial expression recognition with the Self-Cure Network.
//!
//! This library is the part of scn that every build has, the edge runtime included. With the
//! default `train` feature it re-exports the training crate as [`train`] (datasets, label noise,
//! and later the model, training loop and export); the `scn` binary is a thin layer over both.

#![deny(missing_docs)]

pub mod draw;
pub mod plot;

#[cfg(feature = "train")]
pub use scn_train as train;
