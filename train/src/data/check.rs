//! A full audit of an opened dataset (`scn data check`): every image is decoded, and the report
//! gives counts per split and class, image sizes, protocol exclusions, identical images within
//! a split and between training and evaluation splits, and every problem with its location.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use image::DynamicImage;
use rayon::prelude::*;
use serde::Serialize;

use super::{Dataset, Format, Issue, IssueKind, Split};

/// Counts for one split.
#[derive(Debug, Clone, Serialize)]
pub struct SplitReport {
    /// The split.
    pub split: Split,
    /// Usable images (labelled, present and decodable).
    pub images: usize,
    /// Usable images per class, in the dataset's class order.
    pub per_class: Vec<usize>,
    /// Items the label protocol left out, by reason.
    pub excluded: BTreeMap<String, usize>,
    /// Images identical (pixel for pixel) to an earlier image of the same split.
    pub duplicate_images: usize,
    /// Images identical to a training image (for valid and test: leakage).
    pub also_in_train: usize,
}

/// The result of [`check`].
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Dataset layout.
    pub format: Format,
    /// What was read.
    pub description: String,
    /// Folder or file.
    pub root: String,
    /// Class names in label order.
    pub classes: Vec<&'static str>,
    /// One entry per split present.
    pub splits: Vec<SplitReport>,
    /// Decoded image sizes: "48x48 grey" -> count.
    pub image_sizes: BTreeMap<String, usize>,
    /// Every problem found: while reading labels, and images that do not decode.
    pub issues: Vec<Issue>,
}

impl Report {
    /// Whether the dataset is free of problems.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }

    /// Problems counted by kind.
    pub fn issue_counts(&self) -> BTreeMap<IssueKind, usize> {
        let mut counts = BTreeMap::new();
        for issue in &self.issues {
            *counts.entry(issue.kind).or_default() += 1;
        }
        counts
    }
}

/// What decoding one image gave.
enum Decoded {
    Ok { size: String, hash: u64 },
    Err(String),
}

fn describe(img: &DynamicImage) -> String {
    let colour = match img.color().channel_count() {
        1 => "grey",
        2 => "grey+alpha",
        3 => "rgb",
        _ => "rgba",
    };
    format!("{}x{} {colour}", img.width(), img.height())
}

fn content_hash(img: &DynamicImage) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (img.width(), img.height(), img.color().channel_count()).hash(&mut hasher);
    img.as_bytes().hash(&mut hasher);
    hasher.finish()
}

/// Decodes every image of `dataset` (in parallel) and builds the report. `progress` is called
/// with the number of images done since the last call, from worker threads.
pub fn check(dataset: &Dataset, progress: &(dyn Fn(u64) + Sync)) -> Report {
    let mut issues = dataset.issues.clone();
    let mut image_sizes = BTreeMap::new();
    let mut train_hashes: HashMap<u64, usize> = HashMap::new();
    let mut splits = Vec::new();
    for data in &dataset.splits {
        let decoded: Vec<Decoded> = data
            .samples
            .par_iter()
            .map(|sample| {
                let result = match sample.image.load() {
                    Ok(img) => Decoded::Ok {
                        size: describe(&img),
                        hash: content_hash(&img),
                    },
                    Err(e) => Decoded::Err(e),
                };
                progress(1);
                result
            })
            .collect();
        let mut per_class = vec![0; dataset.classes.len()];
        let mut hashes: HashMap<u64, usize> = HashMap::new();
        let mut report = SplitReport {
            split: data.split,
            images: 0,
            per_class: Vec::new(),
            excluded: data.excluded.clone(),
            duplicate_images: 0,
            also_in_train: 0,
        };
        for (sample, result) in data.samples.iter().zip(decoded) {
            match result {
                Decoded::Ok { size, hash } => {
                    report.images += 1;
                    per_class[sample.label.class] += 1;
                    *image_sizes.entry(size).or_insert(0) += 1;
                    let seen = hashes.entry(hash).or_insert(0);
                    if *seen > 0 {
                        report.duplicate_images += 1;
                    }
                    *seen += 1;
                    if data.split != Split::Train && train_hashes.contains_key(&hash) {
                        report.also_in_train += 1;
                    }
                }
                Decoded::Err(detail) => issues.push(Issue {
                    kind: IssueKind::CorruptImage,
                    location: sample.image.location(),
                    detail,
                }),
            }
        }
        if data.split == Split::Train {
            train_hashes = hashes;
        }
        report.per_class = per_class;
        splits.push(report);
    }
    Report {
        format: dataset.format,
        description: dataset.description.clone(),
        root: dataset.root.display().to_string(),
        classes: dataset.classes.names(),
        splits,
        image_sizes,
        issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::write_png;
    use crate::data::{OpenOptions, Split};

    #[test]
    fn finds_corrupt_images_duplicates_and_leaks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_png(&root.join("train/happy/a.png"), 48, 1);
        write_png(&root.join("train/happy/b.png"), 48, 1); // same pixels as a
        write_png(&root.join("train/sad/c.png"), 48, 2);
        std::fs::write(root.join("train/sad/broken.png"), b"\x89PNG\r\n\x1a\nnope").unwrap();
        write_png(&root.join("test/sad/d.png"), 48, 2); // same pixels as c
        write_png(&root.join("test/happy/e.png"), 64, 3);
        let ds = Dataset::open(root, &OpenOptions::default()).unwrap();
        let done = std::sync::atomic::AtomicU64::new(0);
        let report = check(&ds, &|n| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(done.into_inner(), 6);
        assert!(!report.is_clean());
        assert_eq!(report.issues.len(), 1);
        assert_eq!(report.issues[0].kind, IssueKind::CorruptImage);
        assert!(report.issues[0].location.ends_with("broken.png"));
        let train = &report.splits[0];
        assert_eq!(
            (train.split, train.images, train.duplicate_images),
            (Split::Train, 3, 1)
        );
        assert_eq!(train.per_class, vec![2, 1]);
        let test = &report.splits[1];
        assert_eq!((test.split, test.images, test.also_in_train), (Split::Test, 2, 1));
        assert_eq!(report.image_sizes.get("48x48 grey"), Some(&4));
        assert_eq!(report.image_sizes.get("64x64 grey"), Some(&1));
        assert_eq!(report.issue_counts().get(&IssueKind::CorruptImage), Some(&1));
    }
}
