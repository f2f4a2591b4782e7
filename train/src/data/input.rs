//! Model input: how a face image becomes the tensor the network sees. The same steps run at
//! training time here and at inference time in the runtime (which reads these settings from
//! the exported model's metadata): convert to grey or RGB, resize to `size` x `size` with the
//! `image` crate's Triangle (bilinear) filter, scale to [0, 1], subtract `mean`, divide by `std`.

use image::DynamicImage;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

/// ImageNet channel means (RGB), as torchvision.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB), as torchvision.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The network input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputConfig {
    /// Side of the square input in pixels (224 as the paper; 112, 64 or 48 for small data).
    pub size: u32,
    /// 1 (grey) or 3 (RGB).
    pub channels: u32,
    /// Per-channel mean subtracted after scaling to [0, 1].
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by.
    pub std: Vec<f32>,
}

impl InputConfig {
    /// Grey input scaled to [-1, 1] (mean 0.5, std 0.5).
    pub fn grey(size: u32) -> InputConfig {
        InputConfig {
            size,
            channels: 1,
            mean: vec![0.5],
            std: vec![0.5],
        }
    }

    /// RGB input with ImageNet normalisation (for ImageNet-pretrained backbones).
    pub fn rgb(size: u32) -> InputConfig {
        InputConfig {
            size,
            channels: 3,
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
        }
    }

    /// Checks the settings; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.channels == 1 || self.channels == 3) {
            return Err(format!("input channels must be 1 or 3, got {}", self.channels));
        }
        if self.size < 32 {
            return Err(format!(
                "input size must be at least 32 pixels (ResNet-18 halves it five times), got {}",
                self.size
            ));
        }
        if self.mean.len() != self.channels as usize || self.std.len() != self.channels as usize {
            return Err(format!("mean and std need {} value(s) each", self.channels));
        }
        if self.std.iter().any(|&s| s <= 0.0) {
            return Err("std values must be positive".into());
        }
        Ok(())
    }

    /// Number of floats of one image.
    pub fn numel(&self) -> usize {
        (self.channels * self.size * self.size) as usize
    }

    /// Converts and resizes an image: interleaved `size * size * channels` bytes.
    pub fn pixels(&self, image: &DynamicImage) -> Vec<u8> {
        let (w, h) = (self.size, self.size);
        if self.channels == 1 {
            let grey = image.to_luma8();
            if grey.dimensions() == (w, h) {
                return grey.into_raw();
            }
            image::imageops::resize(&grey, w, h, FilterType::Triangle).into_raw()
        } else {
            let rgb = image.to_rgb8();
            if rgb.dimensions() == (w, h) {
                return rgb.into_raw();
            }
            image::imageops::resize(&rgb, w, h, FilterType::Triangle).into_raw()
        }
    }

    /// Normalises interleaved bytes from [`Self::pixels`] into channel-first floats (`[C, H, W]`).
    pub fn normalize_into(&self, pixels: &[u8], out: &mut [f32]) {
        let c = self.channels as usize;
        let plane = (self.size * self.size) as usize;
        for ch in 0..c {
            let scale = 1.0 / (255.0 * self.std[ch]);
            let shift = self.mean[ch] / self.std[ch];
            let dst = &mut out[ch * plane..(ch + 1) * plane];
            for (i, d) in dst.iter_mut().enumerate() {
                *d = f32::from(pixels[i * c + ch]) * scale - shift;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_input_resizes_and_normalises_to_minus_one_one() {
        let input = InputConfig::grey(32);
        let img = DynamicImage::ImageLuma8(image::GrayImage::from_fn(48, 48, |x, _| {
            image::Luma([if x < 24 { 0 } else { 255 }])
        }));
        let px = input.pixels(&img);
        assert_eq!(px.len(), 32 * 32);
        let mut out = vec![0.0; input.numel()];
        input.normalize_into(&px, &mut out);
        assert_eq!(out[0], -1.0);
        assert_eq!(out[31], 1.0);
    }

    #[test]
    fn rgb_input_is_channel_first_with_imagenet_statistics() {
        let input = InputConfig::rgb(32);
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(32, 32, image::Rgb([255, 0, 128])));
        let mut out = vec![0.0; input.numel()];
        input.normalize_into(&input.pixels(&img), &mut out);
        let plane = 32 * 32;
        assert!((out[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((out[plane] - (0.0 - 0.456) / 0.224).abs() < 1e-5);
        assert!((out[2 * plane + 5] - (128.0 / 255.0 - 0.406) / 0.225).abs() < 1e-5);
    }

    #[test]
    fn validation_names_the_bad_setting() {
        assert!(InputConfig::grey(16).validate().unwrap_err().contains("at least 32"));
        let mut bad = InputConfig::rgb(64);
        bad.channels = 2;
        assert!(bad.validate().unwrap_err().contains("1 or 3"));
        assert!(InputConfig::rgb(224).validate().is_ok());
    }
}
