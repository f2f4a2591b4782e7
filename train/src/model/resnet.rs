//! ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) with
//! torchvision's layout and parameter names (`conv1`, `bn1`, `layer1.0.conv1`, ...), so that
//! torchvision and SCN checkpoints load with a few key remaps (see `weights`).
//!
//! `width` scales every layer (64 is ResNet-18; 16 or 32 make small, fast variants for small
//! images and edge devices); `in_channels` is 1 for grey input or 3 for RGB; `stem` chooses how
//! much the input is shrunk before the first stage (see [`Stem`]).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

pub use crate::config::Stem;

/// He initialisation for convolutions, as torchvision (`kaiming_normal_`, fan out, ReLU gain).
fn conv_init() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: true,
    }
}

fn conv3x3(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([in_channels, out_channels], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .with_initializer(conv_init())
        .init(device)
}

/// The 1x1 convolution and batch norm that match the shortcut to a block's output shape
/// (torchvision's `downsample.0` and `downsample.1`).
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1x1 convolution with the block's stride.
    pub conv: Conv2d,
    /// Batch norm after it.
    pub bn: BatchNorm,
}

/// A basic residual block: two 3x3 convolutions with batch norm, plus the shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// First 3x3 convolution (carries the stride).
    pub conv1: Conv2d,
    /// Batch norm after `conv1`.
    pub bn1: BatchNorm,
    /// Second 3x3 convolution.
    pub conv2: Conv2d,
    /// Batch norm after `conv2`.
    pub bn2: BatchNorm,
    /// Shortcut projection where the shape changes.
    pub downsample: Option<Downsample>,
}

impl BasicBlock {
    fn new(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> BasicBlock {
        let downsample = (stride != 1 || in_channels != out_channels).then(|| Downsample {
            conv: Conv2dConfig::new([in_channels, out_channels], [1, 1])
                .with_stride([stride, stride])
                .with_bias(false)
                .with_initializer(conv_init())
                .init(device),
            bn: BatchNormConfig::new(out_channels).init(device),
        });
        BasicBlock {
            conv1: conv3x3(in_channels, out_channels, stride, device),
            bn1: BatchNormConfig::new(out_channels).init(device),
            conv2: conv3x3(out_channels, out_channels, 1, device),
            bn2: BatchNormConfig::new(out_channels).init(device),
            downsample,
        }
    }

    /// `[B, C_in, H, W]` -> `[B, C_out, H / stride, W / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let out = relu(self.bn1.forward(self.conv1.forward(x)));
        let out = self.bn2.forward(self.conv2.forward(out));
        relu(out + identity)
    }
}

/// ResNet-18 configuration.
#[derive(Config, Debug, PartialEq)]
pub struct ResNetConfig {
    /// Input channels: 1 (grey) or 3 (RGB).
    #[config(default = 3)]
    pub in_channels: usize,
    /// Channels of the first stage; the stages have width, 2x, 4x and 8x (64 = ResNet-18).
    #[config(default = 64)]
    pub width: usize,
    /// How the input is shrunk before the first stage.
    #[config(default = "Stem::Standard")]
    pub stem: Stem,
}

impl ResNetConfig {
    /// Size of the pooled feature vector.
    pub fn feature_size(&self) -> usize {
        self.width * 8
    }

    /// Builds the network with torchvision's initialisation.
    pub fn init(&self, device: &Device) -> ResNet {
        let w = self.width;
        let stage = |c_in: usize, c_out: usize, stride: usize| {
            vec![
                BasicBlock::new(c_in, c_out, stride, device),
                BasicBlock::new(c_out, c_out, 1, device),
            ]
        };
        let conv1 = match self.stem {
            Stem::Standard | Stem::NoPool => Conv2dConfig::new([self.in_channels, w], [7, 7])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3)),
            Stem::Cifar => {
                Conv2dConfig::new([self.in_channels, w], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            }
        };
        ResNet {
            conv1: conv1.with_bias(false).with_initializer(conv_init()).init(device),
            bn1: BatchNormConfig::new(w).init(device),
            maxpool: (self.stem == Stem::Standard).then(|| {
                MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init()
            }),
            layer1: stage(w, w, 1),
            layer2: stage(w, 2 * w, 2),
            layer3: stage(2 * w, 4 * w, 2),
            layer4: stage(4 * w, 8 * w, 2),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
        }
    }
}

/// ResNet-18 without its classifier: images to pooled features.
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem convolution (7x7 stride 2, or 3x3 stride 1 for [`Stem::Cifar`]).
    pub conv1: Conv2d,
    /// Batch norm after the stem.
    pub bn1: BatchNorm,
    /// 3x3 stride-2 max pool ([`Stem::Standard`] only).
    pub maxpool: Option<MaxPool2d>,
    /// Stage 1 (stride 1).
    pub layer1: Vec<BasicBlock>,
    /// Stage 2 (stride 2).
    pub layer2: Vec<BasicBlock>,
    /// Stage 3 (stride 2).
    pub layer3: Vec<BasicBlock>,
    /// Stage 4 (stride 2).
    pub layer4: Vec<BasicBlock>,
    /// Global average pool.
    pub avgpool: AdaptiveAvgPool2d,
}

impl ResNet {
    /// `[B, C, H, W]` images -> `[B, 8 * width]` features.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.bn1.forward(self.conv1.forward(x))); // [B, w, H/s, W/s], s = 2 (cifar: 1)
        let mut x = match &self.maxpool {
            Some(pool) => pool.forward(x), // [B, w, H/4, W/4]
            None => x,
        };
        for block in self
            .layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
        {
            x = block.forward(x);
        } // [B, 8w, H/(8r), W/(8r)], r = the stem's reduction
        let x = self.avgpool.forward(x); // [B, 8w, 1, 1]
        x.flatten(1, 3) // [B, 8w]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameters(resnet: &ResNet) -> usize {
        resnet.num_params()
    }

    #[test]
    fn every_stem_gives_the_pooled_features_and_keeps_the_parameters() {
        let device = Device::flex();
        let mut counts = Vec::new();
        for (stem, side) in [(Stem::Standard, 12), (Stem::NoPool, 24), (Stem::Cifar, 48)] {
            let config = ResNetConfig::new().with_in_channels(1).with_width(8).with_stem(stem);
            let net = config.init(&device);
            assert_eq!(net.maxpool.is_some(), stem == Stem::Standard);
            // The stem's output side for a 48 px face is 48 / reduction.
            let stem_out = relu(
                net.bn1
                    .forward(net.conv1.forward(Tensor::zeros([2, 1, 48, 48], &device))),
            );
            let stem_out = match &net.maxpool {
                Some(p) => p.forward(stem_out),
                None => stem_out,
            };
            assert_eq!(stem_out.dims(), [2, 8, side, side], "{stem:?}");
            assert_eq!(48 / stem.reduction(), side);
            let features = net.forward(Tensor::zeros([2, 1, 48, 48], &device));
            assert_eq!(features.dims(), [2, 64]);
            counts.push(parameters(&net));
        }
        // The pool has no weights; only the cifar stem's 3x3 kernel differs from 7x7.
        assert_eq!(counts[0], counts[1]);
        assert_eq!(counts[0] - counts[2], 8 * (49 - 9));
    }
}
