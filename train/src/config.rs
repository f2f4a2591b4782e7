//! Training configuration: every setting of a run, stored as JSON next to its checkpoints.
//! Two presets ship in `train/configs/`: `official` (the official code: Adam 1e-3, weight decay
//! 1e-4, ExponentialLR 0.9, 70 epochs, batch 64, margin_1 0.07) and `paper` (SGD 0.1 divided by
//! 10 at epochs 15 and 30, 40 epochs, margin_1 0.15, gamma 0.5). Both relabel from epoch 10 with
//! margin_2 0.2 in paper mode. Command-line flags override single settings.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::augment::AugmentConfig;
use crate::data::input::InputConfig;
use crate::distill::DistillConfig;
use crate::error::{Error, IoContext, Result};
use crate::relabel::RelabelConfig;

/// How the network shrinks its input before the first residual stage.
///
/// torchvision's stem divides the side by 4 (a 7x7 stride-2 convolution, then a stride-2 max
/// pool): right for 224 px photos, but a 48 px face reaches the first stage as 12x12 and the
/// last as 2x2. The other stems keep more of a small face, at a cost in compute (the stages run
/// on 4x or 16x the pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stem {
    /// 7x7 stride-2 convolution and 3x3 stride-2 max pool: side / 4 (torchvision, the paper).
    #[default]
    Standard,
    /// The same 7x7 stride-2 convolution without the max pool: side / 2, about 4x the compute
    /// of the stages. torchvision weights still load (same `conv1`).
    NoPool,
    /// A 3x3 stride-1 convolution and no pool (CIFAR ResNets): side / 1, about 16x the compute.
    Cifar,
}

impl Stem {
    /// How much the stem divides the input side by.
    pub fn reduction(self) -> usize {
        match self {
            Stem::Standard => 4,
            Stem::NoPool => 2,
            Stem::Cifar => 1,
        }
    }
}

/// The network under SCN's heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backbone {
    /// ResNet-18 (torchvision's layout; `width` and `stem` apply), as in the paper.
    #[default]
    Resnet18,
    /// dlib's face-recognition ResNet (256 features, native input 150 px, at least 103), to
    /// start from its face-pretrained weights (`--pretrained` with face-api.js's manifest).
    Dlib,
}

fn is_default_backbone(backbone: &Backbone) -> bool {
    *backbone == Backbone::Resnet18
}

fn is_standard_stem(stem: &Stem) -> bool {
    *stem == Stem::Standard
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn one() -> f64 {
    1.0
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

/// The optimizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OptimizerSettings {
    /// Adam with L2 weight decay added to the gradient (PyTorch's `Adam(weight_decay=...)`).
    Adam {
        /// Learning rate.
        lr: f64,
        /// L2 penalty.
        weight_decay: f64,
        /// Denominator epsilon (PyTorch: 1e-8).
        epsilon: f64,
    },
    /// SGD with momentum (no dampening, as PyTorch) and L2 weight decay.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum.
        momentum: f64,
        /// L2 penalty.
        weight_decay: f64,
    },
}

impl OptimizerSettings {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerSettings::Adam { lr, .. } | OptimizerSettings::Sgd { lr, .. } => *lr,
        }
    }

    /// Sets the base learning rate.
    pub fn set_lr(&mut self, value: f64) {
        match self {
            OptimizerSettings::Adam { lr, .. } | OptimizerSettings::Sgd { lr, .. } => *lr = value,
        }
    }
}

/// How the learning rate changes from epoch to epoch (applied after each epoch, as PyTorch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// The same rate every epoch.
    Constant,
    /// Multiplied by `gamma` after every epoch (ExponentialLR).
    Exponential {
        /// Factor per epoch.
        gamma: f64,
    },
    /// Multiplied by `gamma` after each milestone epoch (MultiStepLR).
    Step {
        /// Epochs after which the rate drops.
        milestones: Vec<usize>,
        /// Factor per milestone.
        gamma: f64,
    },
    /// Half a cosine from the base rate down to `min_lr` over the run's epochs
    /// (CosineAnnealingLR with `T_max` = epochs).
    Cosine {
        /// The rate the cosine ends at.
        min_lr: f64,
    },
}

impl Schedule {
    /// The learning rate of `epoch` (1-based) of a run of `epochs` for base rate `lr`.
    pub fn lr(&self, lr: f64, epoch: usize, epochs: usize) -> f64 {
        let done = epoch.saturating_sub(1);
        match self {
            Schedule::Cosine { min_lr } => {
                let progress = done as f64 / epochs.max(1) as f64;
                min_lr + (lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
            Schedule::Constant => lr,
            Schedule::Exponential { gamma } => lr * gamma.powi(done as i32),
            Schedule::Step { milestones, gamma } => {
                lr * gamma.powi(milestones.iter().filter(|&&m| m <= done).count() as i32)
            }
        }
    }
}

/// Every setting of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Number of epochs.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Optimizer and its base learning rate.
    pub optimizer: OptimizerSettings,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Network input.
    pub input: InputConfig,
    /// Training augmentation (`null`: none).
    pub augment: Option<AugmentConfig>,
    /// The network under the heads (`resnet18` unless set).
    #[serde(default, skip_serializing_if = "is_default_backbone")]
    pub backbone: Backbone,
    /// Backbone width (64: ResNet-18).
    pub width: usize,
    /// How the backbone shrinks the input before its first stage (`standard`: torchvision's).
    #[serde(default, skip_serializing_if = "is_standard_stem")]
    pub stem: Stem,
    /// Dropout before the heads.
    pub dropout: f64,
    /// Plain cross-entropy without attention, rank regularization or relabeling.
    pub baseline: bool,
    /// Fraction of a batch in the high-importance group.
    pub beta: f64,
    /// Rank-regularization margin between the groups' mean attention.
    pub margin_1: f64,
    /// How WCE and RR are combined.
    pub loss_weighting: LossWeighting,
    /// Relabeling (`null`: off).
    pub relabel: Option<RelabelConfig>,
    /// Label smoothing `eps` (0: off): every training target `t` becomes
    /// `(1 - eps) * t + eps / classes`, one-hot labels, drawn labels, FER+ vote distributions
    /// and relabeled images alike. SCN's weighted cross-entropy takes the smoothed target.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub label_smoothing: f64,
    /// The backbone's learning rate as a share of the heads' (1: one rate for the whole
    /// network; 0: the backbone's weights stay as loaded). Fine-tuning a pretrained backbone
    /// usually wants it below 1, so that the new heads learn fast and the features move slowly.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub backbone_lr_scale: f64,
    /// Knowledge distillation from a teacher model (`null`: none): each target becomes
    /// `(1 - weight) * target + weight * teacher`, before label smoothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillConfig>,
    /// Seed of initialisation, order and augmentation.
    pub seed: u64,
}

/// A shipped preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The official code's settings.
    Official,
    /// The paper's settings.
    Paper,
}

impl Preset {
    /// Parses `--preset`.
    pub fn parse(name: &str) -> Option<Preset> {
        match name.trim().to_ascii_lowercase().as_str() {
            "official" => Some(Preset::Official),
            "paper" => Some(Preset::Paper),
            _ => None,
        }
    }
}

impl TrainConfig {
    /// A shipped preset.
    pub fn preset(preset: Preset) -> TrainConfig {
        let text = match preset {
            Preset::Official => include_str!("../configs/official.json"),
            Preset::Paper => include_str!("../configs/paper.json"),
        };
        serde_json::from_str(text).expect("the shipped presets are valid (tested)")
    }

    /// Reads a JSON config file.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).at(path)?;
        let config: TrainConfig = serde_json::from_str(&text).map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            line: Some(e.line() as u64),
            reason: e.to_string(),
        })?;
        config.validate().map_err(|reason| Error::Malformed {
            path: path.to_path_buf(),
            line: None,
            reason,
        })?;
        Ok(config)
    }

    /// Checks ranges; the message names the setting.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.input.validate()?;
        if self.epochs == 0 {
            return Err("epochs must be at least 1".into());
        }
        if let Schedule::Cosine { min_lr } = self.schedule
            && !(0.0..=self.optimizer.lr()).contains(&min_lr)
        {
            return Err(format!(
                "schedule min_lr must be in [0, lr = {}], got {min_lr}",
                self.optimizer.lr()
            ));
        }
        if self.batch_size < 2 {
            return Err("batch_size must be at least 2 (batch norm and the importance groups need two images)".into());
        }
        if !(self.optimizer.lr() > 0.0 && self.optimizer.lr().is_finite()) {
            return Err("the learning rate must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.backbone_lr_scale) {
            return Err(format!(
                "backbone_lr_scale must be in [0, 1], got {}",
                self.backbone_lr_scale
            ));
        }
        if !(0.0 < self.beta && self.beta < 1.0) {
            return Err(format!("beta must be between 0 and 1, got {}", self.beta));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.width < 4 {
            return Err(format!("width must be at least 4, got {}", self.width));
        }
        if self.backbone == Backbone::Dlib && self.input.size < 103 {
            return Err(format!(
                "the dlib backbone needs an input of at least 103 px (150 native), got {}",
                self.input.size
            ));
        }
        if let Some(r) = &self.relabel
            && !(0.0..1.0).contains(&r.margin_2)
        {
            return Err(format!("margin_2 must be in [0, 1), got {}", r.margin_2));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(format!(
                "label_smoothing must be in [0, 1), got {}",
                self.label_smoothing
            ));
        }
        if let Some(distill) = &self.distill {
            distill.validate()?;
        }
        if let LossWeighting::Paper { gamma } = self.loss_weighting
            && !(0.0..=1.0).contains(&gamma)
        {
            return Err(format!("gamma must be in [0, 1], got {gamma}"));
        }
        if let Some(affine) = self.augment.as_ref().and_then(|a| a.affine.as_ref()) {
            affine.validate()?;
        }
        Ok(())
    }
}

/// How the two losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LossWeighting {
    /// `L = L_WCE + L_RR`, as the official code.
    Official,
    /// `L = gamma * L_RR + (1 - gamma) * L_WCE`, as the paper writes it.
    Paper {
        /// Weight of the rank-regularization loss.
        gamma: f64,
    },
}

/// A setting whose value differs between two configs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The setting, as a config file writes it (`optimizer.lr`, `relabel.prior_correction`).
    pub path: String,
    /// Its value in the first config, as JSON (`null`: absent).
    pub left: String,
    /// Its value in the second.
    pub right: String,
}

impl TrainConfig {
    /// The settings whose values differ between `self` and `other`, one per leaf (a section
    /// present in one and absent, `null`, in the other is one difference), in path order.
    pub fn differences(&self, other: &TrainConfig) -> Vec<Difference> {
        let left = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let right = serde_json::to_value(other).unwrap_or(serde_json::Value::Null);
        let mut out = Vec::new();
        differ("", &left, &right, &mut out);
        out
    }
}

fn differ(path: &str, left: &serde_json::Value, right: &serde_json::Value, out: &mut Vec<Difference>) {
    use serde_json::Value;
    if let (Value::Object(l), Value::Object(r)) = (left, right) {
        let keys: std::collections::BTreeSet<&String> = l.keys().chain(r.keys()).collect();
        for key in keys {
            let sub = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let (a, b) = (l.get(key).unwrap_or(&Value::Null), r.get(key).unwrap_or(&Value::Null));
            differ(&sub, a, b, out);
        }
    } else if left != right {
        out.push(Difference {
            path: path.to_string(),
            left: left.to_string(),
            right: right.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_changed_setting_by_its_path() {
        let a = TrainConfig::preset(Preset::Official);
        assert!(a.differences(&a).is_empty());
        let mut b = a.clone();
        b.width = 32;
        b.optimizer.set_lr(0.5);
        b.relabel = None;
        let paths: Vec<String> = a.differences(&b).into_iter().map(|d| d.path).collect();
        assert_eq!(paths, ["optimizer.lr", "relabel", "width"]);
        let width = a.differences(&b).into_iter().find(|d| d.path == "width");
        assert_eq!(width.map(|d| (d.left, d.right)), Some(("64".into(), "32".into())));
        let mut c = a.clone();
        if let Some(r) = c.relabel.as_mut() {
            r.prior_correction = true;
        }
        let paths: Vec<String> = a.differences(&c).into_iter().map(|d| d.path).collect();
        assert_eq!(paths, ["relabel.prior_correction"]);
    }

    #[test]
    fn presets_parse_and_hold_the_published_settings() {
        let official = TrainConfig::preset(Preset::Official);
        assert!(official.validate().is_ok());
        assert_eq!(
            official.optimizer,
            OptimizerSettings::Adam {
                lr: 1e-3,
                weight_decay: 1e-4,
                epsilon: 1e-8
            }
        );
        assert_eq!(
            (official.epochs, official.batch_size, official.margin_1),
            (70, 64, 0.07)
        );
        let paper = TrainConfig::preset(Preset::Paper);
        assert!(paper.validate().is_ok());
        assert_eq!(paper.epochs, 40);
        assert_eq!(paper.relabel.as_ref().unwrap().start_epoch, 10);
    }

    #[test]
    fn every_shipped_config_file_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let mut n = 0;
        // The folder and its subfolders (ablation/ holds the shipped recipe's ablations).
        let mut folders = vec![dir.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    TrainConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                    n += 1;
                }
            }
        }
        assert!(n >= 6, "official, paper, ferplus48 and the ablations at least");
        let cpu = TrainConfig::load(&dir.join("ferplus48.json")).unwrap();
        assert_eq!((cpu.input.size, cpu.input.channels), (48, 1));
    }

    #[test]
    fn configs_without_a_stem_read_as_the_standard_stem_and_others_round_trip() {
        let mut config = TrainConfig::preset(Preset::Official);
        assert_eq!(config.stem, Stem::Standard);
        let text = serde_json::to_string(&config).unwrap();
        assert!(
            !text.contains("stem"),
            "the standard stem is not written: old readers stay valid"
        );
        config.stem = Stem::NoPool;
        let text = serde_json::to_string(&config).unwrap();
        assert!(text.contains("\"stem\":\"no_pool\""), "{text}");
        assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap().stem, Stem::NoPool);
    }

    #[test]
    fn schedules_match_pytorch_stepping_after_each_epoch() {
        let exp = Schedule::Exponential { gamma: 0.9 };
        assert_eq!(exp.lr(1.0, 1, 10), 1.0);
        assert!((exp.lr(1.0, 3, 10) - 0.81).abs() < 1e-12);
        let step = Schedule::Step {
            milestones: vec![15, 30],
            gamma: 0.1,
        };
        assert_eq!(step.lr(0.1, 15, 40), 0.1);
        assert!((step.lr(0.1, 16, 40) - 0.01).abs() < 1e-12);
        assert!((step.lr(0.1, 31, 40) - 0.001).abs() < 1e-12);
        // PyTorch's CosineAnnealingLR(T_max=4, eta_min=0.1) from 1.0: 1.0, 0.8682, 0.55, 0.2318.
        let cosine = Schedule::Cosine { min_lr: 0.1 };
        let rates: Vec<f64> = (1..=4).map(|e| cosine.lr(1.0, e, 4)).collect();
        for (got, want) in rates.iter().zip([1.0, 0.868_198, 0.55, 0.231_802]) {
            assert!((got - want).abs() < 1e-6, "{rates:?}");
        }
    }

    #[test]
    fn bad_config_files_name_the_file_and_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let mut config = TrainConfig::preset(Preset::Official);
        config.beta = 1.5;
        std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
        let err = TrainConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("c.json") && err.contains("beta"), "{err}");
        std::fs::write(&path, "{\"epochs\": 3,\n\"batch_size\": }").unwrap();
        let err = TrainConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("c.json:2"), "{err}");
    }
}
