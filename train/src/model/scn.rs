//! The Self-Cure Network: a backbone (ResNet-18, or dlib's face-recognition ResNet), a
//! classifier `fc` and the attention head `alpha = sigmoid(Linear(features, 1))`; the logits are
//! `alpha * fc(features)` (Wang et al., CVPR 2020, section 3.1, and the official
//! `Res18Feature`). With `baseline` the attention is off and the logits are `fc(features)`.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::face_resnet::{FACE_FEATURES, FaceResNet, FaceResNetConfig};
use super::resnet::{ResNet, ResNetConfig};

/// Model configuration, saved with every checkpoint and exported model.
#[derive(Config, Debug, PartialEq)]
pub struct ScnConfig {
    /// Number of expression classes.
    pub num_classes: usize,
    /// The ResNet-18 backbone (unused when `face` is set).
    #[config(default = "ResNetConfig::new()")]
    pub backbone: ResNetConfig,
    /// dlib's face-recognition ResNet as the backbone instead of ResNet-18 (256 features).
    #[config(default = "None")]
    pub face: Option<FaceResNetConfig>,
    /// Dropout on the features before both heads (official default 0).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Plain classifier without the attention weight (the `--baseline` comparison).
    #[config(default = false)]
    pub baseline: bool,
}

impl ScnConfig {
    /// Builds the model.
    pub fn init(&self, device: &Device) -> Scn {
        let (backbone, face, features) = match &self.face {
            Some(face) => (None, Some(face.init(device)), FACE_FEATURES),
            None => (Some(self.backbone.init(device)), None, self.backbone.feature_size()),
        };
        Scn {
            backbone,
            face,
            dropout: DropoutConfig::new(self.dropout).init(),
            fc: LinearConfig::new(features, self.num_classes).init(device),
            alpha: LinearConfig::new(features, 1).init(device),
            baseline: self.baseline,
        }
    }
}

/// What the model computes for a batch.
#[derive(Debug, Clone)]
pub struct ScnOutput {
    /// `alpha * fc(x)` (SCN) or `fc(x)` (baseline): `[B, C]`.
    pub logits: Tensor<2>,
    /// The attention weight per image, in (0, 1): `[B, 1]` (all ones for the baseline).
    pub alpha: Tensor<2>,
}

/// The Self-Cure Network.
#[derive(Module, Debug)]
pub struct Scn {
    /// ResNet-18 features (None with the face backbone).
    pub backbone: Option<ResNet>,
    /// dlib's face-recognition ResNet features (the face backbone; None with ResNet-18).
    pub face: Option<FaceResNet>,
    /// Dropout before the heads.
    pub dropout: Dropout,
    /// Classifier.
    pub fc: Linear,
    /// Attention (importance) head, before its sigmoid.
    pub alpha: Linear,
    /// Attention off.
    #[module(skip)]
    pub baseline: bool,
}

impl Scn {
    /// `[B, C_in, H, W]` normalised images -> logits and attention weights.
    pub fn forward(&self, images: Tensor<4>) -> ScnOutput {
        let features = match (&self.face, &self.backbone) {
            (Some(face), _) => face.forward(images),
            (None, Some(resnet)) => resnet.forward(images),
            (None, None) => unreachable!("ScnConfig::init builds one backbone"),
        };
        let features = self.dropout.forward(features); // [B, F]
        let scores = self.fc.forward(features.clone()); // [B, C]
        if self.baseline {
            // Ones derived from the features rather than created with a shape, so that ONNX
            // export keeps the batch axis dynamic.
            let alpha = features.sum_dim(1).detach().mul_scalar(0.0).add_scalar(1.0); // [B, 1]
            return ScnOutput { logits: scores, alpha };
        }
        let alpha = sigmoid(self.alpha.forward(features)); // [B, 1]
        ScnOutput {
            logits: scores * alpha.clone(),
            alpha,
        }
    }

    /// The forward pass for export: logits and alpha as a pair (what ONNX's two outputs hold).
    pub fn forward_pair(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let out = self.forward(images);
        (out.logits, out.alpha)
    }
}
