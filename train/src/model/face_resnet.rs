//! dlib's face-recognition ResNet (Davis King, `dnn_face_recognition_ex`: "a ResNet-34 with a
//! few layers removed and the filters halved", trained on about 3 million faces): a
//! face-pretrained backbone for SCN where no face-pretrained ResNet-18 can be had.
//!
//! The layout follows the face-api.js port (`faceRecognitionNet`), whose weight file scn reads
//! ([`crate::face_api`]): a 7x7 stride-2 convolution (32) and a 3x3 stride-2 max pool, three
//! residual blocks of 32, a down-sampling block and three of 64, a down block and two of 128, a
//! down block and two of 256, one more down block of 256, a global average pool (256 features)
//! and, for the face descriptor only, `fc` 256 -> 128 without bias. dlib's frozen batch norms
//! ("affine" layers) are folded into the convolutions' weights and biases.
//!
//! A down block's first convolution has stride 2 and no padding; its shortcut is a 2x2 average
//! pool with the new channels zero-filled, and where the pool's output is one pixel larger than
//! the convolutions', theirs is zero-padded at the bottom and right (dlib's `add_prev` rule).
//! Input: RGB scaled to [0, 1], minus [122.782, 117.001, 104.298] / 255, divided by 256 / 255;
//! 150x150 natively; any side from 103 up works (the last down block needs 3x3 or more).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig,
};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;

/// The per-channel mean of dlib's input normalisation, on the [0, 1] scale.
pub const FACE_MEAN: [f32; 3] = [122.782 / 255.0, 117.001 / 255.0, 104.298 / 255.0];
/// The standard deviation of dlib's input normalisation (it divides by 256), on the [0, 1] scale.
pub const FACE_STD: f32 = 256.0 / 255.0;
/// dlib's input normalisation for `channels` (1 or 3): per-channel means and standard
/// deviations on the [0, 1] scale; grey input takes the mean of the three colour means.
pub fn normalisation(channels: u32) -> (Vec<f32>, Vec<f32>) {
    let mean = if channels == 1 {
        vec![FACE_MEAN.iter().sum::<f32>() / 3.0]
    } else {
        FACE_MEAN.to_vec()
    };
    (mean, vec![FACE_STD; channels as usize])
}

/// The network's native input side.
pub const FACE_INPUT: usize = 150;
/// Size of the pooled feature vector.
pub const FACE_FEATURES: usize = 256;
/// Size of dlib's face descriptor.
pub const DESCRIPTOR: usize = 128;

fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, same: bool, device: &Device) -> Conv2d {
    let pad = if same { kernel / 2 } else { 0 };
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(true)
        .init(device)
}

/// A residual block: 3x3 convolution, ReLU, 3x3 convolution, plus the input, ReLU.
#[derive(Module, Debug)]
pub struct FaceBlock {
    /// First convolution (stride 2 without padding in a down block).
    pub conv1: Conv2d,
    /// Second convolution.
    pub conv2: Conv2d,
    /// The shortcut's 2x2 average pool (down blocks only).
    pub pool: Option<AvgPool2d>,
}

impl FaceBlock {
    fn new(c_in: usize, c_out: usize, down: bool, device: &Device) -> FaceBlock {
        FaceBlock {
            conv1: conv(c_in, c_out, 3, if down { 2 } else { 1 }, !down, device),
            conv2: conv(c_out, c_out, 3, 1, true, device),
            pool: down.then(|| AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
        }
    }

    /// `[B, C_in, H, W]` -> `[B, C_out, H', W']` (`H' = H / 2` rounded down in a down block).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.conv1.forward(x.clone()));
        let mut out = self.conv2.forward(out);
        let shortcut = match &self.pool {
            None => x,
            Some(pool) => {
                let pooled = pool.forward(x); // [B, C_in, H/2, W/2]
                let [_, c_in, h, w] = pooled.dims();
                let [_, c_out, oh, ow] = out.dims();
                if (oh, ow) != (h, w) {
                    out = out.pad([(0, 0), (0, 0), (0, h - oh), (0, w - ow)], PadMode::Constant(0.0));
                }
                if c_out > c_in {
                    pooled.pad([(0, 0), (0, c_out - c_in), (0, 0), (0, 0)], PadMode::Constant(0.0))
                } else {
                    pooled
                }
            }
        };
        relu(out + shortcut)
    }
}

/// dlib's face-recognition ResNet configuration.
#[derive(Config, Debug, PartialEq)]
pub struct FaceResNetConfig {
    /// Input channels: 3 (RGB, as trained) or 1 (grey: the stem's weights summed over colour).
    #[config(default = 3)]
    pub in_channels: usize,
}

impl FaceResNetConfig {
    /// Builds the network (default initialisation: load weights with [`crate::face_api`]).
    pub fn init(&self, device: &Device) -> FaceResNet {
        let blocks = |c_in: usize, c_out: usize, n: usize, down: bool| {
            (0..n)
                .map(|i| FaceBlock::new(if i == 0 { c_in } else { c_out }, c_out, down && i == 0, device))
                .collect::<Vec<_>>()
        };
        let mut stages = blocks(32, 32, 3, false);
        stages.extend(blocks(32, 64, 4, true));
        stages.extend(blocks(64, 128, 3, true));
        stages.extend(blocks(128, 256, 3, true));
        stages.extend(blocks(256, 256, 1, true));
        FaceResNet {
            stem: conv(self.in_channels, 32, 7, 2, false, device),
            pool: MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(),
            blocks: stages,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(FACE_FEATURES, DESCRIPTOR)
                .with_bias(false)
                .init(device),
        }
    }
}

/// dlib's face-recognition ResNet without a classifier: images to 256 pooled features, and
/// (with [`FaceResNet::descriptor`]) to dlib's 128-d face descriptor.
#[derive(Module, Debug)]
pub struct FaceResNet {
    /// 7x7 stride-2 convolution, no padding.
    pub stem: Conv2d,
    /// 3x3 stride-2 max pool, no padding.
    pub pool: MaxPool2d,
    /// The 14 residual blocks, in order (face-api names: conv32_1..3, conv64_down, conv64_1..3,
    /// conv128_down, conv128_1..2, conv256_down, conv256_1..2, conv256_down_out).
    pub blocks: Vec<FaceBlock>,
    /// Global average pool.
    pub avgpool: AdaptiveAvgPool2d,
    /// The descriptor layer, 256 -> 128 (not used by SCN's heads).
    pub fc: Linear,
}

impl FaceResNet {
    /// `[B, C, H, W]` normalised faces -> `[B, 256]` pooled features.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.stem.forward(x)); // [B, 32, (H-7)/2+1, ...]: 72 for 150
        let mut x = self.pool.forward(x); // [B, 32, 35, 35] for 150
        for block in &self.blocks {
            x = block.forward(x);
        } // [B, 256, 2, 2] for 150
        self.avgpool.forward(x).flatten(1, 3) // [B, 256]
    }

    /// `[B, C, H, W]` normalised faces -> `[B, 128]` face descriptors (dlib compares them by
    /// Euclidean distance: below 0.6, the same person).
    pub fn descriptor(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_150_px_face_gives_256_features_and_odd_sides_work() {
        let device = Device::flex();
        let net = FaceResNetConfig::new().init(&device);
        // 150 exercises the one-pixel padding of the last two down blocks (3 vs 4, 1 vs 2).
        let features = net.forward(Tensor::zeros([2, 3, 150, 150], &device));
        assert_eq!(features.dims(), [2, FACE_FEATURES]);
        assert_eq!(
            net.descriptor(Tensor::zeros([1, 3, 151, 151], &device)).dims(),
            [1, DESCRIPTOR]
        );
        assert_eq!(
            net.forward(Tensor::zeros([1, 3, 103, 103], &device)).dims(),
            [1, FACE_FEATURES]
        );
        // Parameters: face-api's 117 tensors hold 5.6 M values (scale layers folded here).
        let params = net.num_params();
        assert!((5_500_000..5_700_000).contains(&params), "{params}");
    }
}
