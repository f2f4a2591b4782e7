//! The model: the backbones (ResNet-18; dlib's face-recognition ResNet) and the Self-Cure
//! Network heads.

pub mod face_resnet;
pub mod resnet;
pub mod scn;

pub use face_resnet::{FaceBlock, FaceResNet, FaceResNetConfig};
pub use resnet::{BasicBlock, Downsample, ResNet, ResNetConfig, Stem};
pub use scn::{Scn, ScnConfig, ScnOutput};
