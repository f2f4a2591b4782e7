//! What training measures each epoch: loss parts, accuracy overall and per class, the confusion
//! matrix, the attention weights' statistics, relabeling, speed. One [`EpochMetrics`] per epoch
//! goes to `metrics.jsonl` and to the plots.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// The file in a run's output folder with one [`EpochMetrics`] per line.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Bins of the attention-weight histogram over [0, 1].
pub const ALPHA_BINS: usize = 20;

/// A confusion matrix: `counts[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Counts, rows are true classes.
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// An empty matrix for `n` classes.
    pub fn new(n: usize) -> Confusion {
        Confusion {
            counts: vec![vec![0; n]; n],
        }
    }

    /// Counts one prediction.
    pub fn add(&mut self, truth: usize, predicted: usize) {
        if let Some(row) = self.counts.get_mut(truth)
            && let Some(cell) = row.get_mut(predicted)
        {
            *cell += 1;
        }
    }

    /// Samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Fraction correct (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        ratio(correct, self.total())
    }

    /// Recall of each class (`None` for a class without samples).
    pub fn per_class(&self) -> Vec<Option<f64>> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: u64 = row.iter().sum();
                (n > 0).then(|| ratio(row[i], n))
            })
            .collect()
    }

    /// Mean of the per-class recalls (balanced accuracy).
    pub fn mean_class_accuracy(&self) -> f64 {
        let present: Vec<f64> = self.per_class().into_iter().flatten().collect();
        if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Index of the largest value of a row (the first on ties, as numpy's argmax; 0 when empty).
pub fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// `softmax(scores / temperature)` of one row (temperature 1: the plain softmax).
pub fn tempered_softmax(scores: &[f32], temperature: f64) -> Vec<f32> {
    let t = temperature as f32;
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = scores.iter().map(|s| ((s - max) / t).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// The `q`-th percentiles (0..=100) of `values`, by linear interpolation between sorted values.
pub fn percentiles(values: &[f32], qs: impl IntoIterator<Item = f64>) -> Vec<f32> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    qs.into_iter()
        .map(|q| {
            if sorted.is_empty() {
                return f32::NAN;
            }
            let pos = (q / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            // In f64 and as lo + (hi - lo) * t: never outside [lo, hi], so the percentiles of
            // ascending qs ascend (f32's lo * (1 - t) + hi * t can fall an ulp below lo).
            let (a, b) = (f64::from(sorted[lo]), f64::from(sorted[hi]));
            (a + (b - a) * (pos - lo as f64)) as f32
        })
        .collect()
}

/// Counts of values in [`ALPHA_BINS`] equal bins over [0, 1].
pub fn histogram(values: &[f32]) -> Vec<u64> {
    let mut bins = vec![0; ALPHA_BINS];
    for &v in values {
        let b = ((v.clamp(0.0, 1.0) * ALPHA_BINS as f32) as usize).min(ALPHA_BINS - 1);
        bins[b] += 1;
    }
    bins
}

/// How the attention weights of one epoch treat the wrong labels of a noise experiment (a run
/// with a noise record): SCN's weighting helps only where it gives the images whose label is
/// wrong lower weights than the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseAttention {
    /// Mean attention weight of the images whose label was wrong at the epoch's start (flipped
    /// and not restored, or relabeled away from the clean label).
    pub alpha_wrong: f64,
    /// Mean attention weight of the images whose label was right.
    pub alpha_right: f64,
    /// The chance that an image with a wrong label weighs less than one with a right label,
    /// ties counted half: 0.5 when the weights know nothing of the noise, 1 when every wrong
    /// label weighs least.
    pub auroc: f64,
    /// Images with a wrong label that fell in their batch's low-importance group.
    pub wrong_in_low_group: usize,
    /// Images with a wrong label trained on in the epoch.
    pub wrong_seen: usize,
    /// Images of the low-importance groups (the share chance would give the wrong labels is
    /// this over all images seen).
    pub low_group: usize,
    /// Images trained on in the epoch.
    pub seen: usize,
}

/// [`NoiseAttention`] of an epoch's images (sample index, attention weight, in its batch's
/// low-importance group), given which samples carry a wrong label (`wrong[index]`); `None` when
/// the epoch saw no image with a wrong or no image with a right label.
pub fn noise_attention(images: &[(usize, f32, bool)], wrong: &[bool]) -> Option<NoiseAttention> {
    let is_wrong = |index: usize| wrong.get(index).copied().unwrap_or(false);
    let mut sorted: Vec<(f32, bool)> = images.iter().map(|&(i, alpha, _)| (alpha, is_wrong(i))).collect();
    let wrongs = sorted.iter().filter(|(_, w)| *w).count();
    let rights = sorted.len() - wrongs;
    if wrongs == 0 || rights == 0 {
        return None;
    }
    let mean = |want: bool, n: usize| {
        sorted
            .iter()
            .filter(|(_, w)| *w == want)
            .map(|(a, _)| f64::from(*a))
            .sum::<f64>()
            / n as f64
    };
    let (alpha_wrong, alpha_right) = (mean(true, wrongs), mean(false, rights));
    // Mann-Whitney: for each wrong label, the right ones that weigh more, plus half of those
    // that weigh the same.
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut wins, mut right_below, mut start) = (0.0f64, 0usize, 0usize);
    while start < sorted.len() {
        let mut end = start;
        while end < sorted.len() && sorted[end].0 == sorted[start].0 {
            end += 1;
        }
        let tie_wrongs = sorted[start..end].iter().filter(|(_, w)| *w).count();
        let tie_rights = (end - start) - tie_wrongs;
        let right_above = rights - right_below - tie_rights;
        wins += tie_wrongs as f64 * (right_above as f64 + 0.5 * tie_rights as f64);
        right_below += tie_rights;
        start = end;
    }
    Some(NoiseAttention {
        alpha_wrong,
        alpha_right,
        auroc: wins / (wrongs as f64 * rights as f64),
        wrong_in_low_group: images.iter().filter(|&&(i, _, low)| low && is_wrong(i)).count(),
        wrong_seen: wrongs,
        low_group: images.iter().filter(|&&(_, _, low)| low).count(),
        seen: images.len(),
    })
}

/// What the network answered in an epoch's training steps for the images a noise record
/// flipped, against the rest (answers under augmentation, as the training accuracy): how far it
/// has learned the wrong labels, the memorisation SCN's weighting and relabeling are meant to
/// stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseFit {
    /// Flipped images answered with their flipped (wrong) label.
    pub flipped_as_noisy: usize,
    /// Flipped images answered with their clean label.
    pub flipped_as_clean: usize,
    /// Flipped images trained on in the epoch.
    pub flipped_seen: usize,
    /// The other images answered with their label.
    pub others_right: usize,
    /// The other images trained on in the epoch.
    pub others_seen: usize,
}

/// [`NoiseFit`] of an epoch's answers (sample index, answered class), given each sample's
/// label as loaded (`loaded[index]`, the flipped one for a flipped sample) and the flipped
/// samples (index, clean class); `None` when the epoch saw no flipped image.
pub fn noise_fit(answers: &[(usize, usize)], loaded: &[usize], flipped: &[(usize, usize)]) -> Option<NoiseFit> {
    let mut clean = vec![None; loaded.len()];
    for &(index, class) in flipped {
        if let Some(slot) = clean.get_mut(index) {
            *slot = Some(class);
        }
    }
    let mut fit = NoiseFit {
        flipped_as_noisy: 0,
        flipped_as_clean: 0,
        flipped_seen: 0,
        others_right: 0,
        others_seen: 0,
    };
    for &(index, answer) in answers {
        let label = loaded.get(index).copied();
        match clean.get(index).copied().flatten() {
            Some(class) => {
                fit.flipped_seen += 1;
                fit.flipped_as_noisy += usize::from(label == Some(answer));
                fit.flipped_as_clean += usize::from(class == answer);
            }
            None => {
                fit.others_seen += 1;
                fit.others_right += usize::from(label == Some(answer));
            }
        }
    }
    (fit.flipped_seen > 0).then_some(fit)
}

/// Evaluation of a model on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Images evaluated.
    pub images: usize,
    /// Mean cross-entropy of the logits against the labels.
    pub loss: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Mean per-class recall.
    pub mean_class_accuracy: f64,
    /// Per-class recall (null for absent classes).
    pub per_class: Vec<Option<f64>>,
    /// Confusion matrix.
    pub confusion: Confusion,
    /// Percentiles 0, 1, ..., 100 of the attention weight over the split (calibration).
    pub alpha_percentiles: Vec<f32>,
}

/// Everything measured in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean total training loss.
    pub loss: f64,
    /// Mean weighted cross-entropy.
    pub wce: f64,
    /// Mean rank-regularization loss.
    pub rr: f64,
    /// Training accuracy against the labels in use.
    pub train_accuracy: f64,
    /// Mean attention weight of the high-importance groups.
    pub alpha_high: f64,
    /// Mean attention weight of the low-importance groups.
    pub alpha_low: f64,
    /// Histogram of the training attention weights ([`ALPHA_BINS`] bins over [0, 1]).
    pub alpha_histogram: Vec<u64>,
    /// Labels changed in this epoch.
    pub relabeled: usize,
    /// Labels differing from the dataset's after this epoch.
    pub relabeled_total: usize,
    /// The same labels by the class they carry now (one count per class; sums to
    /// `relabeled_total`; empty in metrics written before it was recorded).
    #[serde(default)]
    pub relabeled_to: Vec<usize>,
    /// With a noise record: flipped labels that carry their clean label again.
    pub noise_restored: Option<usize>,
    /// With a noise record: how many labels were flipped.
    pub noise_flipped: Option<usize>,
    /// With a noise record: training labels that differ from the clean ones after this epoch
    /// (`noise_flipped` before relabeling; restored flips lower it, right labels changed raise it).
    #[serde(default)]
    pub noise_wrong: Option<usize>,
    /// With a noise record (SCN, not the baseline): the attention weights of the images with
    /// a wrong label against the others.
    #[serde(default)]
    pub noise_attention: Option<NoiseAttention>,
    /// With a noise record (SCN and the baseline): what the network answered for the flipped
    /// images in the epoch's training steps.
    #[serde(default)]
    pub noise_fit: Option<NoiseFit>,
    /// Training images that could not be decoded (skipped).
    pub skipped_images: usize,
    /// Training images per second.
    pub images_per_second: f64,
    /// Seconds for training and validation.
    pub seconds: f64,
    /// Validation results.
    pub validation: Option<Evaluation>,
}

/// Reads the `metrics.jsonl` a training run writes (one [`EpochMetrics`] per line). A line that
/// is not an epoch's metrics is an error naming the file and line; a file without an epoch is
/// an error too.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text = std::fs::read_to_string(path).at(path)?;
    let mut history = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m = serde_json::from_str(line).map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            line: Some(i as u64 + 1),
            reason: format!("not an epoch's metrics as `scn train` writes them: {e}"),
        })?;
        history.push(m);
    }
    if history.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            what: "epochs (no line of metrics)".into(),
        });
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_back_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let epoch = |e: usize| {
            serde_json::json!({
                "epoch": e, "lr": 0.001, "loss": 1.5, "wce": 1.5, "rr": 0.0, "train_accuracy": 0.5,
                "alpha_high": 1.0, "alpha_low": 1.0, "alpha_histogram": [], "relabeled": 0,
                "relabeled_total": 0, "noise_restored": null, "noise_flipped": null,
                "skipped_images": 0, "images_per_second": 100.0, "seconds": 60.0, "validation": null,
            })
            .to_string()
        };
        std::fs::write(&path, format!("{}\n{}\n\n", epoch(1), epoch(2))).unwrap();
        let history = read_metrics(&path).unwrap();
        assert_eq!(history.iter().map(|m| m.epoch).collect::<Vec<_>>(), vec![1, 2]);

        std::fs::write(&path, format!("{}\n{{\"epoch\": 2}}\n", epoch(1))).unwrap();
        let err = read_metrics(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}:2: not an epoch's metrics", path.display())),
            "{err}"
        );

        std::fs::write(&path, "\n").unwrap();
        let err = read_metrics(&path).unwrap_err().to_string();
        assert!(err.contains("no usable epochs"), "{err}");
        let missing = dir.path().join("none.jsonl");
        assert!(read_metrics(&missing).unwrap_err().to_string().contains("none.jsonl"));
    }

    #[test]
    fn noise_attention_ranks_the_wrong_labels_against_the_right_ones() {
        // Samples 0..6; 1 and 4 wrong. Weights: wrong 0.2 and 0.5, right 0.5, 0.6, 0.9, 0.1.
        let wrong = [false, true, false, false, true, false];
        let images = [
            (0, 0.5, false),
            (1, 0.2, true),
            (2, 0.6, false),
            (3, 0.9, false),
            (4, 0.5, true),
            (5, 0.1, true),
        ];
        let a = noise_attention(&images, &wrong).unwrap();
        assert!((a.alpha_wrong - 0.35).abs() < 1e-6);
        assert!((a.alpha_right - 0.525).abs() < 1e-6);
        // Wrong 0.2: below 0.5, 0.6, 0.9 (3 of 4). Wrong 0.5: ties 0.5 (half), below 0.6, 0.9:
        // 2.5 of 4. (3 + 2.5) / 8.
        assert!((a.auroc - 5.5 / 8.0).abs() < 1e-12);
        assert_eq!((a.wrong_in_low_group, a.wrong_seen, a.low_group, a.seen), (2, 2, 3, 6));
        // Weights that know nothing: 0.5; perfect separation: 1; reversed: 0.
        let same: Vec<_> = (0..6).map(|i| (i, 0.7, false)).collect();
        assert!((noise_attention(&same, &wrong).unwrap().auroc - 0.5).abs() < 1e-12);
        let split: Vec<_> = (0..6).map(|i| (i, if wrong[i] { 0.1 } else { 0.9 }, false)).collect();
        assert!((noise_attention(&split, &wrong).unwrap().auroc - 1.0).abs() < 1e-12);
        let reversed: Vec<_> = (0..6).map(|i| (i, if wrong[i] { 0.9 } else { 0.1 }, false)).collect();
        assert!(noise_attention(&reversed, &wrong).unwrap().auroc.abs() < 1e-12);
        // Nothing to compare.
        assert!(noise_attention(&images[..1], &wrong).is_none());
        assert!(noise_attention(&[(1, 0.3, true)], &wrong).is_none());
    }

    #[test]
    fn noise_fit_counts_the_answers_for_flipped_and_other_images() {
        // Loaded labels; samples 1 (clean 0) and 3 (clean 2) were flipped.
        let loaded = [0, 1, 2, 1, 2];
        let flipped = [(1, 0), (3, 2)];
        // Sample 1 answered with its wrong label, then its clean one; 3 with neither; of the
        // others 0 and 2 right, 4 wrong; an index outside the set counts as a wrong other.
        let answers = [(1, 1), (1, 0), (3, 0), (0, 0), (2, 2), (4, 0), (9, 0)];
        let fit = noise_fit(&answers, &loaded, &flipped).unwrap();
        assert_eq!(
            (fit.flipped_as_noisy, fit.flipped_as_clean, fit.flipped_seen),
            (1, 1, 3)
        );
        assert_eq!((fit.others_right, fit.others_seen), (2, 4));
        assert!(
            noise_fit(&answers[3..], &loaded, &flipped).is_none(),
            "no flipped image seen"
        );
    }

    #[test]
    fn confusion_accuracy_and_recalls() {
        let mut c = Confusion::new(3);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (2, 0)] {
            c.add(t, p);
        }
        c.add(5, 0); // ignored
        assert_eq!(c.total(), 5);
        assert!((c.accuracy() - 0.6).abs() < 1e-12);
        assert_eq!(c.per_class(), vec![Some(2.0 / 3.0), Some(1.0), Some(0.0)]);
        assert!((c.mean_class_accuracy() - (2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn percentiles_interpolate_and_histograms_bin() {
        let v = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentiles(&v, [0.0, 50.0, 100.0, 12.5]), vec![0.0, 2.0, 4.0, 0.5]);
        let h = histogram(&[0.0, 0.04, 0.05, 0.999, 1.0, 1.5]);
        assert_eq!(h[0], 2);
        assert_eq!(h[1], 1);
        assert_eq!(h[ALPHA_BINS - 1], 3);
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
    }

    /// Ties between neighbours gave percentiles an ulp below the tied value in f32 (a tiny model's
    /// export then failed to load); they must ascend with q whatever the values.
    #[test]
    fn percentiles_ascend_over_ties() {
        let mut values: Vec<f32> = (0..40).map(|i| 0.4 + (i % 7) as f32 * 1e-8).collect();
        values.extend([0.467_805_15; 30]);
        values.extend((0..31).map(|i| 0.3 + i as f32 * 0.01));
        let p = percentiles(&values, (0..=100).map(f64::from));
        assert!(p.windows(2).all(|w| w[1] >= w[0]), "{p:?}");
        let tied = percentiles(&[0.467_805_15; 9], (0..=100).map(f64::from));
        assert!(tied.iter().all(|&v| v == 0.467_805_15), "{tied:?}");
    }
}
