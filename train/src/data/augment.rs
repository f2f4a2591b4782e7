//! Training augmentation as the official SCN code: with probability 0.5 one of {horizontal
//! flip, Gaussian noise (variance 30 grey levels squared, clipped)} on the image, then
//! torchvision's RandomErasing (p 0.5, area 2-25 %, aspect 0.3-3.3, value 0) on the normalised
//! tensor. Optionally first a random affine warp (rotation, scale, shift: what the FER+ paper
//! and most FER2013 recipes add for 48-64 px faces). Every random choice comes from the
//! generator it is given, so a seeded generator per sample and epoch makes training
//! reproducible and resumable.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Augmentation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Probability of applying one of flip or noise.
    pub basic_p: f64,
    /// Standard deviation of the Gaussian noise in grey levels (official: sqrt(30)).
    pub noise_sigma: f64,
    /// Probability of random erasing.
    pub erasing_p: f64,
    /// Erased area as a fraction of the image, min and max.
    pub erasing_scale: [f64; 2],
    /// Aspect ratio of the erased rectangle, min and max.
    pub erasing_ratio: [f64; 2],
    /// A random affine warp before everything else (`null` or absent: none, as the official
    /// code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affine: Option<AffineConfig>,
}

/// A random rotation, scaling and shift of the image about its centre; pixels that come from
/// outside the image repeat its edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffineConfig {
    /// Probability of warping an image.
    pub p: f64,
    /// Largest rotation, in degrees either way.
    pub degrees: f64,
    /// Scale factor, min and max.
    pub scale: [f64; 2],
    /// Largest shift along each axis, as a fraction of the side.
    pub shift: f64,
}

impl Default for AffineConfig {
    fn default() -> Self {
        AffineConfig {
            p: 1.0,
            degrees: 10.0,
            scale: [0.9, 1.1],
            shift: 0.1,
        }
    }
}

impl AffineConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(format!("augment.affine.p must be within 0..1, not {}", self.p));
        }
        if !(0.0..=180.0).contains(&self.degrees) {
            return Err(format!(
                "augment.affine.degrees must be within 0..180, not {}",
                self.degrees
            ));
        }
        if !(self.scale[0] > 0.0 && self.scale[0] <= self.scale[1]) {
            return Err(format!(
                "augment.affine.scale must be 0 < min <= max, not {:?}",
                self.scale
            ));
        }
        if !(0.0..0.5).contains(&self.shift) {
            return Err(format!(
                "augment.affine.shift must be within 0..0.5, not {}",
                self.shift
            ));
        }
        Ok(())
    }

    /// Warps interleaved bytes (`size * size * channels`) in place, with probability `p`.
    pub fn apply(&self, pixels: &mut [u8], size: usize, channels: usize, rng: &mut impl Rng) {
        if rng.random::<f64>() >= self.p {
            return;
        }
        let angle = rng.random_range(-self.degrees..=self.degrees).to_radians();
        let scale = rng.random_range(self.scale[0]..=self.scale[1]);
        let max_shift = self.shift * size as f64;
        let dx = rng.random_range(-max_shift..=max_shift);
        let dy = rng.random_range(-max_shift..=max_shift);
        let source = pixels.to_vec();
        warp(&source, pixels, size, channels, angle, scale, (dx, dy));
    }
}

/// Writes into `out` the image `source` rotated by `angle` radians and scaled by `scale` about
/// its centre, then shifted by `shift` pixels: bilinear sampling, edges repeated.
pub fn warp(source: &[u8], out: &mut [u8], size: usize, channels: usize, angle: f64, scale: f64, shift: (f64, f64)) {
    let centre = (size as f64 - 1.0) / 2.0;
    // The inverse map, output pixel -> source position.
    let (cos, sin) = (angle.cos() / scale, angle.sin() / scale);
    let last = size as f64 - 1.0;
    for y in 0..size {
        for x in 0..size {
            let (ox, oy) = (x as f64 - centre - shift.0, y as f64 - centre - shift.1);
            let sx = (centre + cos * ox + sin * oy).clamp(0.0, last);
            let sy = (centre - sin * ox + cos * oy).clamp(0.0, last);
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(size - 1), (y0 + 1).min(size - 1));
            let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
            for c in 0..channels {
                let at = |xx: usize, yy: usize| f64::from(source[(yy * size + xx) * channels + c]);
                let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
                let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
                out[(y * size + x) * channels + c] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            basic_p: 0.5,
            noise_sigma: 30f64.sqrt(),
            erasing_p: 0.5,
            erasing_scale: [0.02, 0.25],
            erasing_ratio: [0.3, 3.3],
            affine: None,
        }
    }
}

impl AugmentConfig {
    /// Everything done to the image's bytes (`size * size * channels`, interleaved): the
    /// affine warp where configured, then flip or noise.
    pub fn apply_pixels(&self, pixels: &mut [u8], size: usize, channels: usize, rng: &mut impl Rng) {
        if let Some(affine) = &self.affine {
            affine.apply(pixels, size, channels, rng);
        }
        self.apply_basic(pixels, size, channels, rng);
    }

    /// Flip or noise on interleaved bytes (`size * size * channels`).
    pub fn apply_basic(&self, pixels: &mut [u8], size: usize, channels: usize, rng: &mut impl Rng) {
        if rng.random::<f64>() >= self.basic_p {
            return;
        }
        if rng.random_bool(0.5) {
            flip_horizontal(pixels, size, channels);
        } else if let Ok(normal) = Normal::new(0.0, self.noise_sigma) {
            for p in pixels.iter_mut() {
                let v = f64::from(*p) + normal.sample(rng);
                *p = v.clamp(0.0, 255.0) as u8;
            }
        }
    }

    /// Random erasing on a channel-first tensor (`[C, size, size]`), torchvision's algorithm.
    pub fn apply_erasing(&self, tensor: &mut [f32], size: usize, channels: usize, rng: &mut impl Rng) {
        if rng.random::<f64>() >= self.erasing_p {
            return;
        }
        let area = (size * size) as f64;
        let (log_r0, log_r1) = (self.erasing_ratio[0].ln(), self.erasing_ratio[1].ln());
        for _ in 0..10 {
            let target = area * rng.random_range(self.erasing_scale[0]..=self.erasing_scale[1]);
            let aspect = rng.random_range(log_r0..=log_r1).exp();
            let h = (target * aspect).sqrt().round() as usize;
            let w = (target / aspect).sqrt().round() as usize;
            if h == 0 || w == 0 || h >= size || w >= size {
                continue;
            }
            let top = rng.random_range(0..=size - h);
            let left = rng.random_range(0..=size - w);
            for c in 0..channels {
                for y in top..top + h {
                    let row = c * size * size + y * size;
                    tensor[row + left..row + left + w].fill(0.0);
                }
            }
            return;
        }
    }
}

/// Mirrors interleaved pixels left to right.
pub fn flip_horizontal(pixels: &mut [u8], size: usize, channels: usize) {
    for y in 0..size {
        let row = &mut pixels[y * size * channels..(y + 1) * size * channels];
        for x in 0..size / 2 {
            for c in 0..channels {
                row.swap(x * channels + c, (size - 1 - x) * channels + c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn flip_mirrors_each_row_keeping_channels_together() {
        let mut px = vec![1, 2, 3, 4, 5, 6, 7, 8]; // 2x2 RGBA-like with 2 channels
        flip_horizontal(&mut px, 2, 2);
        assert_eq!(px, vec![3, 4, 1, 2, 7, 8, 5, 6]);
    }

    #[test]
    fn noise_and_flip_happen_about_half_the_time_and_are_seeded() {
        let config = AugmentConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let base: Vec<u8> = (0..64u8).collect();
        let mut changed = 0;
        for _ in 0..1000 {
            let mut px = base.clone();
            config.apply_basic(&mut px, 8, 1, &mut rng);
            changed += usize::from(px != base);
        }
        assert!((430..570).contains(&changed), "{changed}");
        let run = |seed| {
            let mut px = base.clone();
            config.apply_basic(&mut px, 8, 1, &mut ChaCha8Rng::seed_from_u64(seed));
            px
        };
        assert_eq!(run(7), run(7));
    }

    #[test]
    fn warp_is_the_identity_at_rest_and_moves_content_as_asked() {
        let size = 9;
        let mut img = vec![0u8; size * size];
        img[4 * size + 6] = 200; // one bright pixel, 2 right of the centre
        let mut out = vec![0u8; size * size];
        warp(&img, &mut out, size, 1, 0.0, 1.0, (0.0, 0.0));
        assert_eq!(out, img);
        // Shifted 1 px down.
        warp(&img, &mut out, size, 1, 0.0, 1.0, (0.0, 1.0));
        assert_eq!(out[5 * size + 6], 200);
        // Rotated 90 degrees (image y points down): (+2, 0) from the centre goes to (0, +2).
        warp(&img, &mut out, size, 1, std::f64::consts::FRAC_PI_2, 1.0, (0.0, 0.0));
        assert_eq!(out[6 * size + 4], 200, "{out:?}");
        // Scaled by 1.5: (+2, 0) goes to (+3, 0).
        warp(&img, &mut out, size, 1, 0.0, 1.5, (0.0, 0.0));
        assert_eq!(out[4 * size + 7], 200);
        // Edges repeat: a shift brings in copies of the border, not black.
        let flat = vec![90u8; size * size * 3];
        let mut out3 = vec![0u8; size * size * 3];
        warp(&flat, &mut out3, size, 3, 0.3, 0.8, (3.0, -2.0));
        assert!(out3.iter().all(|&v| v == 90));
    }

    #[test]
    fn affine_is_off_by_default_seeded_and_bounded() {
        assert!(AugmentConfig::default().affine.is_none());
        let config = AugmentConfig {
            basic_p: 0.0,
            affine: Some(AffineConfig::default()),
            ..Default::default()
        };
        let base: Vec<u8> = (0..48 * 48).map(|i| (i % 251) as u8).collect();
        let run = |seed| {
            let mut px = base.clone();
            config.apply_pixels(&mut px, 48, 1, &mut ChaCha8Rng::seed_from_u64(seed));
            px
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        assert_ne!(run(5), base);
        assert!(AffineConfig::default().validate().is_ok());
        let bad = AffineConfig {
            scale: [1.2, 0.9],
            ..AffineConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("scale"));
        // Configs written before the warp existed still read, without it.
        let old: AugmentConfig = serde_json::from_str(
            r#"{"basic_p":0.5,"noise_sigma":5.0,"erasing_p":0.5,"erasing_scale":[0.02,0.25],"erasing_ratio":[0.3,3.3]}"#,
        )
        .unwrap();
        assert!(old.affine.is_none());
        assert!(!serde_json::to_string(&old).unwrap().contains("affine"));
    }

    #[test]
    fn erasing_zeroes_one_rectangle_within_the_area_bounds() {
        let config = AugmentConfig {
            erasing_p: 1.0,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let mut t = vec![1.0f32; 3 * 32 * 32];
            config.apply_erasing(&mut t, 32, 3, &mut rng);
            let zeros = t.iter().filter(|&&v| v == 0.0).count() / 3;
            assert!(zeros > 0 && zeros as f64 <= 0.3 * 1024.0, "{zeros}");
            // The same rectangle in every channel.
            assert_eq!(t[..1024], t[1024..2048]);
        }
    }
}
