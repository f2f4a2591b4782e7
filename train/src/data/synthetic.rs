//! A generated, learnable stand-in for an expression dataset, for tests, benchmarks and demos
//! without real data: each class is a bright blob at its own height in a noisy grey image,
//! centred left to right (so that, like a face, a class survives a horizontal flip), with
//! random jitter, size and brightness. Written as an image-folder dataset
//! (`train/<class>/*.png`, `test/<class>/*.png`), optionally with a fraction of the training
//! images deliberately filed under a wrong class (label noise), with the truth returned.

use std::path::Path;

use image::{GrayImage, Luma};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Expression;
use crate::error::{IoContext, Result};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    /// Number of classes (2..=8), named after the first expressions in canonical order.
    pub classes: usize,
    /// Training images per class.
    pub train_per_class: usize,
    /// Test images per class (always clean).
    pub test_per_class: usize,
    /// Image side in pixels.
    pub size: u32,
    /// Fraction of training images filed under a wrong class.
    pub noise: f64,
    /// Seed.
    pub seed: u64,
}

/// A training image filed under the wrong class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MislabeledImage {
    /// File name (unique over the dataset).
    pub file: String,
    /// The class its pattern belongs to.
    pub true_class: usize,
    /// The folder it was put in.
    pub given_class: usize,
}

fn render(class: usize, classes: usize, size: u32, rng: &mut ChaCha8Rng) -> GrayImage {
    let s = size as f32;
    // Class centres one above the other on the vertical axis.
    let (cx, cy) = (s / 2.0, s * (class as f32 + 0.5) / classes as f32);
    let band = 0.25 / classes as f32;
    let (jx, jy) = (rng.random_range(-0.08..0.08) * s, rng.random_range(-band..band) * s);
    let radius = s * rng.random_range(0.5..0.8) / classes as f32;
    let amplitude = rng.random_range(110.0..190.0f32);
    let background = rng.random_range(30.0..70.0f32);
    GrayImage::from_fn(size, size, |x, y| {
        let d2 = (x as f32 - cx - jx).powi(2) + (y as f32 - cy - jy).powi(2);
        let v = background + amplitude * (-d2 / (2.0 * radius * radius)).exp() + rng.random_range(-25.0..25.0);
        Luma([v.clamp(0.0, 255.0) as u8])
    })
}

/// Writes the dataset under `root` and returns the mislabeled training images.
pub fn generate(root: &Path, spec: &SyntheticSpec) -> Result<Vec<MislabeledImage>> {
    let classes = spec.classes.clamp(2, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut mislabeled = Vec::new();
    for (split, per_class) in [("train", spec.train_per_class), ("test", spec.test_per_class)] {
        for class in 0..classes {
            for i in 0..per_class {
                let image = render(class, classes, spec.size, &mut rng);
                let mut folder = class;
                if split == "train" && rng.random_bool(spec.noise.clamp(0.0, 1.0)) {
                    folder = (class + rng.random_range(1..classes)) % classes;
                }
                let file = format!("{split}-{class}-{i:05}.png");
                let dir = root.join(split).join(Expression::ALL[folder].name());
                std::fs::create_dir_all(&dir).at(&dir)?;
                let path = dir.join(&file);
                image
                    .save(&path)
                    .map_err(|e| crate::error::IoError::new(&path, std::io::Error::other(e)))?;
                if folder != class {
                    mislabeled.push(MislabeledImage {
                        file,
                        true_class: class,
                        given_class: folder,
                    });
                }
            }
        }
    }
    Ok(mislabeled)
}

/// Copies the image-folder dataset at `root` to `to` without the class `dropped`: the same
/// images, one class fewer (for runs that start from a model of other classes).
pub fn copy_without_class(root: &Path, to: &Path, dropped: Expression) -> Result<()> {
    for split in ["train", "test"] {
        let dir = root.join(split);
        for class in std::fs::read_dir(&dir).at(&dir)? {
            let class = class.at(&dir)?.path();
            let Some(name) = class.file_name() else { continue };
            if name == dropped.name() {
                continue;
            }
            let target = to.join(split).join(name);
            std::fs::create_dir_all(&target).at(&target)?;
            for image in std::fs::read_dir(&class).at(&class)? {
                let image = image.at(&class)?.path();
                if let Some(file) = image.file_name() {
                    std::fs::copy(&image, target.join(file)).at(&image)?;
                }
            }
        }
    }
    Ok(())
}

/// Writes a flip record (as `scn data noise` does) for the mislabeled images, so that training
/// reports how many relabeling restored.
pub fn write_flip_record(path: &Path, mislabeled: &[MislabeledImage]) -> Result<()> {
    let mut text = String::from("line,image,original_label,noisy_label,original_class,noisy_class\n");
    for (i, m) in mislabeled.iter().enumerate() {
        text.push_str(&format!(
            "{},{},{},{},{},{}\n",
            i + 1,
            m.file,
            m.true_class,
            m.given_class,
            Expression::ALL[m.true_class].name(),
            Expression::ALL[m.given_class].name()
        ));
    }
    Ok(std::fs::write(path, text).at(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, OpenOptions, Split};

    #[test]
    fn generates_a_folder_dataset_with_the_requested_noise() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SyntheticSpec {
            classes: 4,
            train_per_class: 50,
            test_per_class: 5,
            size: 32,
            noise: 0.3,
            seed: 1,
        };
        let wrong = generate(dir.path(), &spec).unwrap();
        assert!((40..80).contains(&wrong.len()), "{}", wrong.len());
        let ds = Dataset::open(dir.path(), &OpenOptions::default()).unwrap();
        assert_eq!(ds.classes.len(), 4);
        assert_eq!(ds.split(Split::Train).unwrap().samples.len(), 200);
        assert_eq!(ds.split(Split::Test).unwrap().samples.len(), 20);
        assert!(wrong.iter().all(|m| m.true_class != m.given_class));
    }
}
