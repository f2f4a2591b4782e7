//! Batches for training and evaluation: a seeded order per epoch, images decoded and augmented
//! in parallel, each sample with its own generator derived from (seed, epoch, index), so that a
//! run and its resumed continuation see exactly the same data.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::Sample;
use super::augment::AugmentConfig;
use super::input::InputConfig;

/// Mixes seed, epoch and index into one generator seed (splitmix64 steps).
pub fn mix(seed: u64, epoch: u64, index: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// The order of the `n` training samples in `epoch`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(seed, epoch as u64, u64::MAX)));
    order
}

/// Splits an order into batches of `batch_size`; a last batch of a single sample is dropped
/// (batch norm cannot train on one image).
pub fn batches(order: &[usize], batch_size: usize) -> Vec<&[usize]> {
    order
        .chunks(batch_size.max(1))
        .filter(|c| c.len() > 1 || order.len() == 1)
        .collect()
}

/// A decoded batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Channel-first images, `[B, C, S, S]` flattened.
    pub images: Vec<f32>,
    /// The tensor shape.
    pub shape: [usize; 4],
    /// Index (in the split) of each image of the batch.
    pub indices: Vec<usize>,
    /// Samples that could not be decoded: index and reason (left out of the batch).
    pub failed: Vec<(usize, String)>,
}

/// How training samples are augmented: the settings, the run's seed and the epoch.
#[derive(Debug, Clone, Copy)]
pub struct Augmentation<'a> {
    /// What to apply.
    pub config: &'a AugmentConfig,
    /// The run's seed.
    pub seed: u64,
    /// The epoch (1-based).
    pub epoch: usize,
}

/// Decodes, converts and (for training) augments the samples at `indices`.
pub fn load(samples: &[Sample], indices: &[usize], input: &InputConfig, augment: Option<Augmentation<'_>>) -> Batch {
    let numel = input.numel();
    let size = input.size as usize;
    let channels = input.channels as usize;
    let decoded: Vec<(usize, Result<Vec<f32>, String>)> = indices
        .par_iter()
        .map(|&index| {
            let result = samples[index].image.load().map(|image| {
                let mut pixels = input.pixels(&image);
                let mut tensor = vec![0.0f32; numel];
                match augment {
                    Some(aug) => {
                        let mut rng = ChaCha8Rng::seed_from_u64(mix(aug.seed, aug.epoch as u64, index as u64));
                        aug.config.apply_pixels(&mut pixels, size, channels, &mut rng);
                        input.normalize_into(&pixels, &mut tensor);
                        aug.config.apply_erasing(&mut tensor, size, channels, &mut rng);
                    }
                    None => input.normalize_into(&pixels, &mut tensor),
                }
                tensor
            });
            (index, result)
        })
        .collect();
    let mut batch = Batch {
        images: Vec::with_capacity(indices.len() * numel),
        shape: [0, channels, size, size],
        indices: Vec::new(),
        failed: Vec::new(),
    };
    for (index, result) in decoded {
        match result {
            Ok(tensor) => {
                batch.images.extend_from_slice(&tensor);
                batch.indices.push(index);
            }
            Err(reason) => batch
                .failed
                .push((index, format!("{}: {reason}", samples[index].image.location()))),
        }
    }
    batch.shape[0] = batch.indices.len();
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ImageRef, Label};

    #[test]
    fn orders_are_permutations_that_depend_on_seed_and_epoch() {
        let a = epoch_order(100, 1, 1);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(100, 1, 1));
        assert_ne!(a, epoch_order(100, 1, 2));
        assert_ne!(a, epoch_order(100, 2, 1));
    }

    #[test]
    fn a_last_batch_of_one_is_dropped() {
        let order: Vec<usize> = (0..9).collect();
        assert_eq!(
            batches(&order, 4).iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![4, 4]
        );
        assert_eq!(
            batches(&order[..6], 4).iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![4, 2]
        );
    }

    #[test]
    fn loads_batches_reproducibly_and_reports_broken_images() {
        let dir = tempfile::tempdir().unwrap();
        let mut samples = Vec::new();
        for i in 0..4 {
            let path = dir.path().join(format!("{i}.png"));
            crate::data::testutil::write_png(&path, 40, i as u8);
            samples.push(Sample {
                image: ImageRef::File(path),
                label: Label::hard(0),
                index: i,
            });
        }
        std::fs::write(dir.path().join("3.png"), "broken").unwrap();
        let input = InputConfig::grey(32);
        let config = AugmentConfig::default();
        let aug = Augmentation {
            config: &config,
            seed: 5,
            epoch: 2,
        };
        let a = load(&samples, &[2, 0, 3], &input, Some(aug));
        assert_eq!(a.shape, [2, 1, 32, 32]);
        assert_eq!(a.indices, vec![2, 0]);
        assert_eq!(a.failed.len(), 1);
        assert!(a.failed[0].1.contains("3.png"));
        let b = load(&samples, &[2, 0, 3], &input, Some(aug));
        assert_eq!(a.images, b.images);
        let plain = load(&samples, &[2, 0], &input, None);
        assert_eq!(plain.images.len(), 2 * 32 * 32);
    }
}
