//! SCN's losses (Wang et al., CVPR 2020, section 3): the weighted cross-entropy (cross-entropy
//! on the alpha-scaled logits) and the rank-regularization loss on the attention weights.
//!
//! Rank regularization sorts the batch's attention weights, takes the top `floor(beta * B)` as
//! the high-importance group and the rest as the low group, and asks their means to differ by at
//! least `margin_1`: `L_RR = max(0, margin_1 - (mean(alpha_high) - mean(alpha_low)))`. The
//! grouping uses `floor`, as the official code's `int(batch_size * beta)`.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

pub use crate::config::LossWeighting;

/// The training target of a batch.
#[derive(Debug, Clone)]
pub enum Targets {
    /// One class per image: `[B]`.
    Hard(Tensor<1, Int>),
    /// A distribution per image (FERPlus cross-entropy mode): `[B, C]`, rows sum to 1.
    Soft(Tensor<2>),
}

/// Mean cross-entropy of `logits` (`[B, C]`) against the targets. Fed with SCN's alpha-scaled
/// logits this is the weighted cross-entropy.
pub fn cross_entropy(logits: Tensor<2>, targets: &Targets) -> Tensor<1> {
    let log_probs = log_softmax(logits, 1); // [B, C]
    match targets {
        Targets::Hard(classes) => {
            let [batch] = classes.dims();
            let picked = log_probs.gather(1, classes.clone().reshape([batch, 1])); // [B, 1]
            picked.mean().neg()
        }
        Targets::Soft(dist) => (log_probs * dist.clone()).sum_dim(1).mean().neg(),
    }
}

/// The high- and low-importance groups of a batch: positions into the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportanceGroups {
    /// The `floor(beta * B)` largest attention weights, largest first.
    pub high: Vec<usize>,
    /// The rest, largest first.
    pub low: Vec<usize>,
}

impl ImportanceGroups {
    /// Splits a batch by its attention weights. Ties keep batch order. With fewer than two
    /// images, or a `beta` that leaves a group empty, there is no low group.
    pub fn split(alpha: &[f32], beta: f64) -> ImportanceGroups {
        let mut order: Vec<usize> = (0..alpha.len()).collect();
        order.sort_by(|&a, &b| alpha[b].total_cmp(&alpha[a]));
        let tops = ((alpha.len() as f64) * beta).floor() as usize;
        if tops == 0 || tops >= alpha.len() {
            return ImportanceGroups {
                high: order,
                low: Vec::new(),
            };
        }
        let low = order.split_off(tops);
        ImportanceGroups { high: order, low }
    }

    /// Whether position `i` is in the low-importance group.
    pub fn low_mask(&self, batch: usize) -> Vec<bool> {
        let mut mask = vec![false; batch];
        for &i in &self.low {
            mask[i] = true;
        }
        mask
    }
}

/// The rank-regularization loss of `alpha` (`[B, 1]`) for the given groups; zero when a group
/// is empty.
pub fn rank_regularization(alpha: Tensor<2>, groups: &ImportanceGroups, margin_1: f64) -> Tensor<1> {
    let device = alpha.device();
    if groups.high.is_empty() || groups.low.is_empty() {
        return Tensor::zeros([1], &device);
    }
    let pick = |positions: &[usize]| {
        let idx: Vec<i64> = positions.iter().map(|&i| i as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [positions.len()]), &device);
        alpha.clone().select(0, idx).mean() // [1]
    };
    let gap = pick(&groups.high) - pick(&groups.low);
    gap.neg().add_scalar(margin_1).clamp_min(0.0)
}

/// Combines the two losses.
pub fn combine(wce: Tensor<1>, rr: Tensor<1>, weighting: LossWeighting) -> Tensor<1> {
    match weighting {
        LossWeighting::Official => wce + rr,
        LossWeighting::Paper { gamma } => rr.mul_scalar(gamma) + wce.mul_scalar(1.0 - gamma),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    #[test]
    fn cross_entropy_matches_hand_computed_values() {
        let d = device();
        let logits = Tensor::<2>::from_data([[2.0f32, 1.0, 0.0], [0.0, 0.0, 0.0]], &d);
        // Row 1: -log(e^2 / (e^2 + e + 1)) = 0.407606; row 2: log 3 = 1.098612.
        let hard = Targets::Hard(Tensor::from_data([0i64, 2], &d));
        assert!((scalar(cross_entropy(logits.clone(), &hard)) - 0.753_109).abs() < 1e-5);
        // Soft target [0.5, 0.5, 0] on row 1: 0.5 * 0.407606 + 0.5 * 1.407606.
        let soft = Targets::Soft(Tensor::from_data([[0.5f32, 0.5, 0.0], [0.0, 0.0, 1.0]], &d));
        assert!((scalar(cross_entropy(logits, &soft)) - 1.003_109).abs() < 1e-5);
    }

    #[test]
    fn weighted_cross_entropy_uses_alpha_scaled_logits() {
        let d = device();
        // alpha = 0.5 halves the logits of row 1: [1, 0.5, 0] -> -log(e / (e + e^0.5 + 1)).
        let fc = Tensor::<2>::from_data([[2.0f32, 1.0, 0.0], [0.0, 0.0, 0.0]], &d);
        let alpha = Tensor::<2>::from_data([[0.5f32], [1.0]], &d);
        let hard = Targets::Hard(Tensor::from_data([0i64, 2], &d));
        let expected = (0.680_269_7 + 1.098_612_3) / 2.0;
        assert!((scalar(cross_entropy(fc * alpha, &hard)) - expected).abs() < 1e-5);
    }

    #[test]
    fn groups_follow_the_official_floor() {
        let alpha = [0.9f32, 0.2, 0.8, 0.6, 0.3];
        // floor(0.7 * 5) = 3 high.
        let g = ImportanceGroups::split(&alpha, 0.7);
        assert_eq!(g.high, vec![0, 2, 3]);
        assert_eq!(g.low, vec![4, 1]);
        assert_eq!(g.low_mask(5), vec![false, true, false, false, true]);
        // floor(0.7 * 64) = 44.
        let g = ImportanceGroups::split(&[0.5; 64], 0.7);
        assert_eq!((g.high.len(), g.low.len()), (44, 20));
        assert_eq!(g.high[..3], [0, 1, 2], "ties keep batch order");
        assert!(ImportanceGroups::split(&[0.5], 0.7).low.is_empty());
    }

    #[test]
    fn rank_regularization_matches_hand_computed_values() {
        let d = device();
        let values = [0.9f32, 0.2, 0.8, 0.6, 0.3];
        let alpha = Tensor::<2>::from_data(TensorData::new(values.to_vec(), [5, 1]), &d);
        let groups = ImportanceGroups::split(&values, 0.7);
        // mean high 0.766667, mean low 0.25: gap 0.516667 > 0.07, no loss.
        assert_eq!(scalar(rank_regularization(alpha.clone(), &groups, 0.07)), 0.0);
        // margin 0.6: 0.6 - 0.516667 = 0.083333.
        assert!((scalar(rank_regularization(alpha, &groups, 0.6)) - 0.083_333).abs() < 1e-5);
    }

    #[test]
    fn rank_regularization_pushes_the_groups_apart() {
        let d = device().autodiff();
        let values = [0.55f32, 0.5, 0.52, 0.51];
        let alpha = Tensor::<2>::from_data(TensorData::new(values.to_vec(), [4, 1]), &d).require_grad();
        let groups = ImportanceGroups::split(&values, 0.5); // high {0, 2}, low {3, 1}
        let loss = rank_regularization(alpha.clone(), &groups, 0.15);
        let grads = loss.backward();
        let g = alpha.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        // d/d alpha_high = -1/2, d/d alpha_low = +1/2: descent raises the high group.
        assert_eq!(g, vec![-0.5, 0.5, -0.5, 0.5]);
    }

    #[test]
    fn weightings_combine_as_documented() {
        let d = device();
        let wce = Tensor::<1>::from_data([2.0f32], &d);
        let rr = Tensor::<1>::from_data([0.5f32], &d);
        assert_eq!(scalar(combine(wce.clone(), rr.clone(), LossWeighting::Official)), 2.5);
        let paper = combine(wce, rr, LossWeighting::Paper { gamma: 0.2 });
        assert!((scalar(paper) - (0.2 * 0.5 + 0.8 * 2.0)).abs() < 1e-6);
    }
}
