//! SCN's relabeling (Wang et al., CVPR 2020, section 3.3): from `start_epoch` on, a sample whose
//! most probable class beats the probability of its given label by more than `margin_2` gets
//! that class as its new label, kept for later epochs in the [`LabelTable`].
//!
//! `paper` mode relabels only samples of the batch's low-importance group (the paper);
//! `official` mode any sample of the batch (the official code, issues #33 and #83 there).
//!
//! `prior_correction` (ours, off by default) compares classes after dividing each probability
//! by its class's share of the labels in use, as logit-adjusted long-tail classifiers do, with
//! every share floored at the uniform one (1 / classes). On an imbalanced dataset the plain
//! rule pulls labels towards the most frequent class: trained from scratch on FERPlus, 93% of
//! the 4,805 labels it changed became *neutral*. The correction only weighs frequent classes
//! down. Without the floor (the rule before 2026-12-07) a class with 0.34% of the labels was
//! weighed 100 times more than neutral, and relabels to it fed themselves until most labels
//! were that class (RESULTS.md); the shares are those of the current labels, so a class that
//! gains relabels loses weight.

use serde::{Deserialize, Serialize};

/// Which samples may be relabeled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelabelMode {
    /// Only the low-importance group of each batch (the paper).
    #[default]
    Paper,
    /// Every sample of the batch (the official code).
    Official,
}

/// Relabeling settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelabelConfig {
    /// First epoch (1-based) that relabels (official: 10).
    pub start_epoch: usize,
    /// Probability margin (official: 0.2).
    pub margin_2: f64,
    /// Which samples are candidates.
    pub mode: RelabelMode,
    /// Divide each class's probability by its share of the labels in use (floored at the
    /// uniform share) before comparing (off: the paper).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prior_correction: bool,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            start_epoch: 10,
            margin_2: 0.2,
            mode: RelabelMode::Paper,
            prior_correction: false,
        }
    }
}

/// Each class's share of `labels`, floored at the uniform share `1 / num_classes`: the prior
/// correction divides by these, so a frequent class is weighed down and a rare one is never
/// weighed up past what a balanced dataset would give it (no share is 0).
pub fn class_priors(labels: &[usize], num_classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; num_classes];
    for &label in labels {
        if let Some(c) = counts.get_mut(label) {
            *c += 1;
        }
    }
    let total = counts.iter().sum::<usize>().max(1) as f64;
    let uniform = 1.0 / num_classes.max(1) as f64;
    counts.iter().map(|&c| (c as f64 / total).max(uniform)).collect()
}

/// For each sample of a batch, the new label if it is to be relabeled.
///
/// `probs` holds the softmax of the alpha-scaled logits, row-major `[B, C]`; `labels` the
/// current labels; `candidates` which samples may change (the low group in paper mode);
/// `priors`, where given, the class shares each probability is divided by (the result
/// renormalized) before the margin test.
pub fn decide(
    probs: &[f32],
    num_classes: usize,
    labels: &[usize],
    candidates: &[bool],
    margin_2: f64,
    priors: Option<&[f64]>,
) -> Vec<Option<usize>> {
    let mut row = vec![0.0f64; num_classes];
    labels
        .iter()
        .enumerate()
        .map(|(i, &label)| {
            if !candidates[i] {
                return None;
            }
            for (c, r) in row.iter_mut().enumerate() {
                let p = f64::from(probs[i * num_classes + c]);
                *r = priors.and_then(|pr| pr.get(c)).map_or(p, |&prior| p / prior);
            }
            let sum: f64 = row.iter().sum();
            if priors.is_some() && sum > 0.0 {
                row.iter_mut().for_each(|r| *r /= sum);
            }
            let (best, p_max) = row
                .iter()
                .copied()
                .enumerate()
                .fold((0, f64::MIN), |acc, (c, p)| if p > acc.1 { (c, p) } else { acc });
            let p_given = row.get(label).copied().unwrap_or(0.0);
            (p_max - p_given > margin_2 && best != label).then_some(best)
        })
        .collect()
}

/// The current label of every training sample, persisted across epochs and in checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelTable {
    /// The labels as read from the dataset.
    pub original: Vec<usize>,
    /// The labels in use (original unless relabeled).
    pub current: Vec<usize>,
}

impl LabelTable {
    /// A table with every label as given.
    pub fn new(labels: Vec<usize>) -> LabelTable {
        LabelTable {
            current: labels.clone(),
            original: labels,
        }
    }

    /// Applies a batch's decisions for the samples at `indices`; returns how many changed.
    pub fn apply(&mut self, indices: &[usize], decisions: &[Option<usize>]) -> usize {
        let mut changed = 0;
        for (&index, decision) in indices.iter().zip(decisions) {
            if let Some(new) = *decision
                && self.current[index] != new
            {
                self.current[index] = new;
                changed += 1;
            }
        }
        changed
    }

    /// Samples whose current label differs from the original one.
    pub fn relabeled(&self) -> usize {
        self.original.iter().zip(&self.current).filter(|(a, b)| a != b).count()
    }

    /// The relabeled samples (current label differs from the original) counted by the class
    /// they carry now: where relabeling sends its changes (SCN's rule favours the classes the
    /// model is surest of, e.g. *neutral* from scratch on FERPlus).
    pub fn relabeled_to(&self, num_classes: usize) -> Vec<usize> {
        let mut counts = vec![0; num_classes];
        for (original, current) in self.original.iter().zip(&self.current) {
            if original != current
                && let Some(count) = counts.get_mut(*current)
            {
                *count += 1;
            }
        }
        counts
    }

    /// Given the clean labels of the samples whose labels were corrupted (index, clean class),
    /// how many now carry their clean label again.
    pub fn restored(&self, flipped: &[(usize, usize)]) -> usize {
        flipped
            .iter()
            .filter(|&&(index, clean)| self.current.get(index) == Some(&clean))
            .count()
    }

    /// Given the same clean labels, how many samples carry a wrong label now: the flipped ones
    /// not restored plus the unflipped ones relabeled away from their (right) label. Before any
    /// relabeling this is the number of flips; relabeling helps where it goes down.
    pub fn wrong(&self, flipped: &[(usize, usize)]) -> usize {
        self.wrong_mask(flipped).into_iter().filter(|&w| w).count()
    }

    /// Given the same clean labels, whether each sample carries a wrong label now.
    pub fn wrong_mask(&self, flipped: &[(usize, usize)]) -> Vec<bool> {
        let mut clean = self.original.clone();
        for &(index, class) in flipped {
            if let Some(label) = clean.get_mut(index) {
                *label = class;
            }
        }
        clean.iter().zip(&self.current).map(|(a, b)| a != b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relabeled_labels_are_counted_by_the_class_they_carry_now() {
        let mut table = LabelTable::new(vec![0, 1, 2, 2, 1]);
        assert_eq!(table.relabeled_to(3), vec![0, 0, 0]);
        // 1 -> 0, 2 -> 0, 2 -> 1; then the last change is undone (2 -> 1 -> 2).
        table.apply(&[1, 2, 3], &[Some(0), Some(0), Some(1)]);
        assert_eq!(table.relabeled_to(3), vec![2, 1, 0]);
        table.apply(&[3], &[Some(2)]);
        assert_eq!(table.relabeled_to(3), vec![2, 0, 0]);
        assert_eq!(table.relabeled_to(3).iter().sum::<usize>(), table.relabeled());
    }

    #[test]
    fn relabels_only_beyond_the_margin_and_only_candidates() {
        // Three samples, three classes.
        let probs = [
            0.70, 0.20, 0.10, // label 1: 0.70 - 0.20 = 0.50 > 0.2 -> class 0
            0.45, 0.30, 0.25, // label 1: 0.45 - 0.30 = 0.15 -> keep
            0.10, 0.10, 0.80, // label 2: already the best -> keep
        ];
        let labels = [1, 1, 2];
        assert_eq!(
            decide(&probs, 3, &labels, &[true; 3], 0.2, None),
            vec![Some(0), None, None]
        );
        // Paper mode: the first sample is in the high group, so it is not a candidate.
        assert_eq!(
            decide(&probs, 3, &labels, &[false, true, true], 0.2, None),
            vec![None, None, None]
        );
        // A smaller margin relabels the second one too.
        assert_eq!(
            decide(&probs, 3, &labels, &[true; 3], 0.1, None),
            vec![Some(0), Some(0), None]
        );
    }

    #[test]
    fn prior_correction_takes_away_the_pull_of_the_frequent_class() {
        // Class 0 holds 60% of the labels, 1 and 2 20% each (floored at the uniform third).
        let priors = class_priors(&[0, 0, 0, 0, 0, 0, 1, 1, 2, 2], 3);
        assert_eq!(priors, vec![0.6, 1.0 / 3.0, 1.0 / 3.0]);
        let probs = [
            0.55, 0.30, 0.15, // label 1: plain 0.25 > 0.2 -> class 0; corrected 0.917 vs 0.9: keep
            0.90, 0.05, 0.05, // label 1: clearly class 0 either way (1.5 vs 0.25)
            0.10, 0.10, 0.80, // label 1: the rare class 2 wins by more once corrected
        ];
        let labels = [1, 1, 1];
        assert_eq!(
            decide(&probs, 3, &labels, &[true; 3], 0.2, None),
            vec![Some(0), Some(0), Some(2)]
        );
        assert_eq!(
            decide(&probs, 3, &labels, &[true; 3], 0.2, Some(&priors)),
            vec![None, Some(0), Some(2)]
        );
        // Equal priors change nothing.
        let equal = [1.0 / 3.0; 3];
        assert_eq!(
            decide(&probs, 3, &labels, &[true; 3], 0.2, Some(&equal)),
            decide(&probs, 3, &labels, &[true; 3], 0.2, None)
        );
        // A class without labels does not divide by zero.
        assert!(class_priors(&[0, 0], 2).iter().all(|&p| p > 0.0));
    }

    #[test]
    fn prior_correction_does_not_let_a_rare_class_take_over() {
        // FERPlus's shares under confusable flips: neutral 34.3%, contempt 0.34% (RESULTS.md).
        // Divided by the raw shares, contempt's 0.06 outweighed neutral's 0.70 (17.6 vs 2.0).
        let mut labels = vec![0usize; 3430];
        labels.extend(std::iter::repeat_n(1, 6536));
        labels.extend(std::iter::repeat_n(7, 34));
        let priors = class_priors(&labels, 8);
        assert_eq!(priors[7], 0.125);
        let mut probs = [0.04f32; 8];
        probs[0] = 0.70;
        probs[1] = 0.04;
        probs[7] = 0.06;
        assert_eq!(decide(&probs, 8, &[0], &[true], 0.2, Some(&priors)), vec![None]);
        // Even a face the network gives mostly to the rare class over a frequent given label
        // still moves: the floor only caps the rare class's weight.
        let mut rare = [0.02f32; 8];
        rare[0] = 0.20;
        rare[7] = 0.68;
        assert_eq!(decide(&rare, 8, &[0], &[true], 0.2, Some(&priors)), vec![Some(7)]);
        // Shares follow the labels in use: a class that gains relabels loses weight.
        let mut relabeled = labels.clone();
        relabeled[..3000].iter_mut().for_each(|l| *l = 7);
        assert!(class_priors(&relabeled, 8)[7] > 0.25);
    }

    #[test]
    fn the_table_keeps_relabels_and_counts_restored_labels() {
        let mut table = LabelTable::new(vec![0, 1, 2, 3]);
        // Samples 1 and 3 were flipped from clean labels 0 and 2.
        let flipped = [(1, 0), (3, 2)];
        assert_eq!(table.apply(&[3, 1], &[Some(2), None]), 1);
        assert_eq!(
            table.apply(&[3], &[Some(2)]),
            0,
            "relabeling to the same class is no change"
        );
        assert_eq!(table.current, vec![0, 1, 2, 2]);
        assert_eq!(table.relabeled(), 1);
        assert_eq!(table.restored(&flipped), 1);
        // Wrong before: the two flips; one restored leaves one.
        assert_eq!(LabelTable::new(vec![0, 1, 2, 3]).wrong(&flipped), 2);
        assert_eq!(table.wrong(&flipped), 1);
        // A right label (sample 0) relabeled away counts as wrong; a flip moved to yet
        // another wrong class (sample 1 to 2) stays wrong.
        table.apply(&[0, 1], &[Some(3), Some(2)]);
        assert_eq!((table.restored(&flipped), table.wrong(&flipped)), (1, 2));
    }
}
