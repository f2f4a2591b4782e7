//! Training augmentation as the official SCN code: with probability 0.5 one of {horizontal
//! flip, Gaussian noise (variance 30 grey levels squared, clipped)} on the image, then
//! torchvision's RandomErasing (p 0.5, area 2-25 %, aspect 0.3-3.3, value 0) on the normalised
//! tensor. Every random choice comes from the generator it is given, so a seeded generator per
//! sample and epoch makes training reproducible and resumable.

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
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            basic_p: 0.5,
            noise_sigma: 30f64.sqrt(),
            erasing_p: 0.5,
            erasing_scale: [0.02, 0.25],
            erasing_ratio: [0.3, 3.3],
        }
    }
}

impl AugmentConfig {
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
