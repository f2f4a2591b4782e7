//! The model: ResNet-18 and the Self-Cure Network heads.

pub mod resnet;
pub mod scn;

pub use resnet::{BasicBlock, Downsample, ResNet, ResNetConfig, Stem};
pub use scn::{Scn, ScnConfig, ScnOutput};
