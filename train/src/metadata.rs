//! What an exported model carries besides its weights: the ONNX `metadata_props` that tell the
//! runtime how to feed the network and how to read its outputs. `scn export` writes them; the
//! runtime's classifier reads them back. Every value is JSON under a key starting with `scn.`,
//! so that tools such as Netron show them and other runtimes can read them.

use serde::{Deserialize, Serialize};

use crate::data::Format;
use crate::data::input::InputConfig;

/// Version of this metadata layout.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the graph's input: `[batch, channels, size, size]` float32, preprocessed.
pub const INPUT_NAME: &str = "image";
/// Name of the output with the class scores `[batch, classes]` (SCN's alpha-weighted logits).
pub const LOGITS_NAME: &str = "logits";
/// Name of the output with SCN's attention weight `[batch, 1]`.
pub const ALPHA_NAME: &str = "alpha";

/// Metadata keys, in the order they are written.
pub mod keys {
    /// [`super::FORMAT_VERSION`].
    pub const FORMAT_VERSION: &str = "scn.format_version";
    /// Class names in output order (JSON array of strings).
    pub const CLASSES: &str = "scn.classes";
    /// Input size, channels, mean and std (JSON object, [`crate::data::input::InputConfig`]).
    pub const INPUT: &str = "scn.input";
    /// Face-crop template (JSON object, [`super::FaceTemplate`]).
    pub const FACE_TEMPLATE: &str = "scn.face_template";
    /// Attention-weight percentiles 0..=100 over the validation images (JSON array).
    pub const ALPHA_PERCENTILES: &str = "scn.alpha_percentiles";
    /// Each class's share of the training labels, in output order (JSON array summing to 1).
    pub const CLASS_PRIOR: &str = "scn.class_prior";
    /// The training data (JSON string).
    pub const DATASET: &str = "scn.dataset";
    /// Accuracy on the validation split (JSON object, [`super::Score`]).
    pub const VALIDATION: &str = "scn.validation";
    /// Accuracy on the test split when the trainer measured it (JSON object).
    pub const TEST: &str = "scn.test";
    /// The training configuration (JSON object).
    pub const TRAINING: &str = "scn.training";
    /// Every key this module writes, in order.
    pub const ALL: [&str; 10] = [
        FORMAT_VERSION,
        CLASSES,
        INPUT,
        FACE_TEMPLATE,
        ALPHA_PERCENTILES,
        CLASS_PRIOR,
        DATASET,
        VALIDATION,
        TEST,
        TRAINING,
    ];
}

/// The five landmarks of a face-crop template, in MTCNN's (and RAF-DB's) order.
pub const LANDMARK_NAMES: [&str; 5] = [
    "left eye",
    "right eye",
    "nose",
    "left mouth corner",
    "right mouth corner",
];

/// Where the five facial landmarks sit in a training image: a live face is warped onto these
/// points (a similarity transform) so that it looks like the faces the model learned from.
/// "Left" is the image's left (the person's right eye).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceTemplate {
    /// Side of the square crop, in pixels, that the landmark coordinates refer to.
    pub size: u32,
    /// `[x, y]` in pixels of the crop, in [`LANDMARK_NAMES`] order.
    pub landmarks: [[f32; 2]; 5],
    /// How the points were obtained.
    pub source: String,
}

impl FaceTemplate {
    /// FER2013 / FERPlus 48x48 crops (faces registered by the dataset's authors to about the
    /// same place and size).
    pub fn fer2013() -> FaceTemplate {
        FaceTemplate {
            size: 48,
            landmarks: [[14.9, 18.4], [32.8, 18.2], [23.7, 28.4], [16.6, 37.0], [31.2, 36.7]],
            source: "FERPlus 48x48 training images: median MTCNN landmarks of 2485 of 3000 images \
                     (`scn data template`)"
                .into(),
        }
    }

    /// RAF-DB's aligned 100x100 images (aligned by the dataset's authors with a 5-point
    /// similarity transform).
    pub fn rafdb_aligned() -> FaceTemplate {
        FaceTemplate {
            size: 100,
            landmarks: [[30.3, 40.0], [69.7, 40.0], [50.0, 58.0], [34.0, 77.0], [66.0, 77.0]],
            source: "RAF-DB aligned 100x100 images: typical landmark positions (estimated, not measured)".into(),
        }
    }

    /// dlib's 150x150 face chips (`get_face_chip_details`, padding 0.25), where its face
    /// recognition ResNet sees faces: the eyes 52 px apart on a line 27 px above the chip's
    /// centre (dlib's eye geometry), nose and mouth corners placed with the proportions of
    /// ArcFace's 5-point template (dlib's 5-point model has no mouth corners).
    pub fn dlib_chip() -> FaceTemplate {
        FaceTemplate {
            size: 150,
            landmarks: [[49.0, 48.0], [101.0, 48.0], [75.2, 77.7], [53.8, 108.0], [96.9, 108.0]],
            source: "dlib's 150x150 face chips (padding 0.25): eye geometry of dlib's get_face_chip_details, \
                     nose and mouth by ArcFace's template proportions"
                .into(),
        }
    }

    /// The template of a dataset's training images, where the layout fixes one.
    pub fn for_dataset(format: Format, rafdb_aligned: bool) -> Option<FaceTemplate> {
        match format {
            Format::Ferplus | Format::Fer2013 => Some(FaceTemplate::fer2013()),
            Format::Rafdb if rafdb_aligned => Some(FaceTemplate::rafdb_aligned()),
            Format::Rafdb | Format::Folder => None,
        }
    }

    /// Parses a face template from JSON (`{"size": 48, "landmarks": [[x, y], ...5], "source":
    /// "..."}`) and checks its values; the message says what is wrong.
    pub fn from_json(text: &str) -> Result<FaceTemplate, String> {
        let template: FaceTemplate = serde_json::from_str(text).map_err(|e| format!("not a face template: {e}"))?;
        template.validate()?;
        Ok(template)
    }

    /// Checks the values; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.size == 0 {
            return Err("face template size must be positive".into());
        }
        let s = self.size as f32;
        for (name, [x, y]) in LANDMARK_NAMES.iter().zip(self.landmarks) {
            if !(x.is_finite() && y.is_finite()) || x < 0.0 || y < 0.0 || x > s || y > s {
                return Err(format!(
                    "face template: {name} at ({x}, {y}) lies outside the {s}x{s} crop"
                ));
            }
        }
        let [l, r] = [self.landmarks[0], self.landmarks[1]];
        if r[0] - l[0] < 1.0 {
            return Err("face template: the right eye must lie right of the left eye".into());
        }
        Ok(())
    }
}

/// Accuracy of the model on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The split (`valid`, `test`).
    pub split: String,
    /// Images evaluated.
    pub images: usize,
    /// Fraction correct.
    pub accuracy: f64,
    /// Mean per-class recall.
    pub mean_class_accuracy: f64,
    /// The epoch of the exported weights.
    pub epoch: usize,
}

/// Everything the runtime needs to know about an exported model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// Class names in output order.
    pub classes: Vec<String>,
    /// How to turn a face crop into the input tensor.
    pub input: InputConfig,
    /// How a detected face must be aligned and cropped.
    pub face_template: FaceTemplate,
    /// Percentiles 0..=100 of alpha over the validation images (empty: no calibration).
    pub alpha_percentiles: Vec<f32>,
    /// Each class's share of the training labels (empty: unknown), for
    /// [`ModelMetadata::balance_offsets`].
    pub class_prior: Vec<f32>,
    /// What the model was trained on.
    pub dataset: String,
    /// Validation accuracy of the exported weights.
    pub validation: Option<Score>,
    /// Test accuracy of the exported weights, when measured.
    pub test: Option<Score>,
    /// The training configuration (free-form JSON).
    pub training: serde_json::Value,
}

/// A problem with a model's metadata.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetadataError {
    /// A required key is absent.
    #[error("metadata key `{0}` is missing")]
    Missing(&'static str),
    /// A value does not parse or is out of range.
    #[error("metadata key `{key}`: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(key: &'static str, reason: impl ToString) -> MetadataError {
    MetadataError::Invalid {
        key,
        reason: reason.to_string(),
    }
}

impl ModelMetadata {
    /// The metadata as `(key, JSON value)` pairs for ONNX `metadata_props`.
    pub fn to_props(&self) -> Vec<(String, String)> {
        let json = |v: serde_json::Value| v.to_string();
        let mut props = vec![
            (keys::FORMAT_VERSION, json(FORMAT_VERSION.into())),
            (keys::CLASSES, json(serde_json::json!(self.classes))),
            (keys::INPUT, json(serde_json::json!(self.input))),
            (keys::FACE_TEMPLATE, json(serde_json::json!(self.face_template))),
            (keys::ALPHA_PERCENTILES, json(serde_json::json!(self.alpha_percentiles))),
        ];
        if !self.class_prior.is_empty() {
            props.push((keys::CLASS_PRIOR, json(serde_json::json!(self.class_prior))));
        }
        props.push((keys::DATASET, json(serde_json::json!(self.dataset))));
        if let Some(v) = &self.validation {
            props.push((keys::VALIDATION, json(serde_json::json!(v))));
        }
        if let Some(t) = &self.test {
            props.push((keys::TEST, json(serde_json::json!(t))));
        }
        props.push((keys::TRAINING, json(self.training.clone())));
        props.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Reads the metadata from `(key, value)` pairs; keys other than `scn.*` are ignored.
    /// Classes, input and face template are required; the rest defaults to "unknown".
    pub fn from_props<'a>(props: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, MetadataError> {
        let map: std::collections::HashMap<&str, &str> = props.into_iter().collect();
        fn parse<T: serde::de::DeserializeOwned>(
            map: &std::collections::HashMap<&str, &str>,
            key: &'static str,
        ) -> Result<Option<T>, MetadataError> {
            map.get(key)
                .map(|v| serde_json::from_str(v).map_err(|e| invalid(key, e)))
                .transpose()
        }
        let version: u32 = parse(&map, keys::FORMAT_VERSION)?.ok_or(MetadataError::Missing(keys::FORMAT_VERSION))?;
        if version > FORMAT_VERSION {
            return Err(invalid(
                keys::FORMAT_VERSION,
                format!("version {version} is newer than this program reads ({FORMAT_VERSION}): update scn"),
            ));
        }
        let classes: Vec<String> = parse(&map, keys::CLASSES)?.ok_or(MetadataError::Missing(keys::CLASSES))?;
        if classes.len() < 2 {
            return Err(invalid(keys::CLASSES, "a classifier needs at least two classes"));
        }
        let input: InputConfig = parse(&map, keys::INPUT)?.ok_or(MetadataError::Missing(keys::INPUT))?;
        input.validate().map_err(|e| invalid(keys::INPUT, e))?;
        let face_template: FaceTemplate =
            parse(&map, keys::FACE_TEMPLATE)?.ok_or(MetadataError::Missing(keys::FACE_TEMPLATE))?;
        face_template.validate().map_err(|e| invalid(keys::FACE_TEMPLATE, e))?;
        let mut alpha_percentiles: Vec<f32> = parse(&map, keys::ALPHA_PERCENTILES)?.unwrap_or_default();
        // Exports before the percentiles were interpolated in f64 can step down by an ulp where
        // neighbouring values tie: such steps are rounding, and are levelled.
        let rounding = |a: f32, b: f32| b >= a - 1e-6 * a.abs().max(1.0);
        if !alpha_percentiles.is_empty()
            && (alpha_percentiles.len() != 101
                || alpha_percentiles.iter().any(|v| !v.is_finite())
                || alpha_percentiles.windows(2).any(|w| !rounding(w[0], w[1])))
        {
            return Err(invalid(
                keys::ALPHA_PERCENTILES,
                "expected 101 ascending values (percentiles 0..=100)",
            ));
        }
        for i in 1..alpha_percentiles.len() {
            alpha_percentiles[i] = alpha_percentiles[i].max(alpha_percentiles[i - 1]);
        }
        let class_prior: Vec<f32> = parse(&map, keys::CLASS_PRIOR)?.unwrap_or_default();
        if !class_prior.is_empty()
            && (class_prior.len() != classes.len()
                || class_prior.iter().any(|p| !(0.0..=1.0).contains(p))
                || (class_prior.iter().sum::<f32>() - 1.0).abs() > 1e-3)
        {
            return Err(invalid(
                keys::CLASS_PRIOR,
                format!(
                    "expected {} shares from 0 to 1 that sum to 1, one per class",
                    classes.len()
                ),
            ));
        }
        Ok(ModelMetadata {
            classes,
            input,
            face_template,
            alpha_percentiles,
            class_prior,
            dataset: parse(&map, keys::DATASET)?.unwrap_or_else(|| "unknown".into()),
            validation: parse(&map, keys::VALIDATION)?,
            test: parse(&map, keys::TEST)?,
            training: parse(&map, keys::TRAINING)?.unwrap_or(serde_json::Value::Null),
        })
    }

    /// How certain the model is of a face relative to the validation faces: the fraction of
    /// validation images whose alpha is below this one (0..1), interpolated between percentiles.
    /// `None` without calibration data.
    pub fn certainty(&self, alpha: f32) -> Option<f32> {
        alpha_rank(&self.alpha_percentiles, alpha)
    }

    /// What to add to the class scores (logits) for post-hoc logit adjustment by the training
    /// prior (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021): `-tau *
    /// ln(prior)` per class. `tau` 0 keeps the model's own decision; 1 asks for the classifier that
    /// is right as often on each class, whatever its share (it raises rare classes such as
    /// contempt and disgust at some cost in overall accuracy). `None` without a class prior.
    pub fn balance_offsets(&self, tau: f32) -> Option<Vec<f32>> {
        if self.class_prior.is_empty() {
            return None;
        }
        // A class that no training label had (share 0) counts as one in a million.
        let floor = 1e-6f32;
        Some(self.class_prior.iter().map(|p| -tau * p.max(floor).ln()).collect())
    }
}

/// Each class's share of `labels` (class indices below `classes`; out-of-range ones are not
/// counted). Empty when no label counts.
pub fn class_shares(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut counts = vec![0u64; classes];
    for &l in labels {
        if let Some(c) = counts.get_mut(l) {
            *c += 1;
        }
    }
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    counts.iter().map(|&c| (c as f64 / total as f64) as f32).collect()
}

/// The percentile rank (0..1) of `alpha` among the values whose percentiles 0..=100 are given.
pub fn alpha_rank(percentiles: &[f32], alpha: f32) -> Option<f32> {
    let n = percentiles.len();
    if n < 2 || !alpha.is_finite() {
        return None;
    }
    let (first, last) = (percentiles[0], percentiles[n - 1]);
    if alpha < first {
        return Some(0.0);
    }
    if alpha > last {
        return Some(1.0);
    }
    // The last percentile at or below alpha, then linear inside its interval; runs of equal
    // percentiles (alpha saturating) take the middle of the run.
    let below = percentiles.partition_point(|&p| p < alpha);
    let at_or_below = percentiles.partition_point(|&p| p <= alpha);
    let step = 1.0 / (n - 1) as f32;
    if at_or_below > below {
        // alpha equals percentiles[below..at_or_below]
        return Some(((below + at_or_below - 1) as f32 / 2.0) * step);
    }
    let (i, j) = (below - 1, below);
    let t = (alpha - percentiles[i]) / (percentiles[j] - percentiles[i]);
    Some((i as f32 + t) * step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelMetadata {
        ModelMetadata {
            classes: vec!["neutral".into(), "happiness".into(), "surprise".into()],
            input: InputConfig::grey(48),
            face_template: FaceTemplate::fer2013(),
            alpha_percentiles: (0..=100).map(|i| 0.5 + i as f32 * 0.004).collect(),
            class_prior: vec![0.5, 0.3, 0.2],
            dataset: "FERPlus".into(),
            validation: Some(Score {
                split: "valid".into(),
                images: 10,
                accuracy: 0.8,
                mean_class_accuracy: 0.7,
                epoch: 3,
            }),
            test: None,
            training: serde_json::json!({"epochs": 3}),
        }
    }

    #[test]
    fn props_round_trip() {
        let m = sample();
        let props = m.to_props();
        assert!(props.iter().all(|(k, _)| k.starts_with("scn.")));
        let back = ModelMetadata::from_props(props.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
        assert_eq!(back, m);
    }

    /// Models exported before the percentiles were interpolated in f64 carry one-ulp steps down
    /// where neighbouring alphas tie (a tiny model of a short run had three): they load, levelled;
    /// a real descent or a value that is not a number does not.
    #[test]
    fn alpha_percentiles_with_rounding_steps_load_levelled() {
        let with = |percentiles: Vec<f32>| {
            let mut m = sample();
            m.alpha_percentiles = percentiles;
            let props = m.to_props();
            ModelMetadata::from_props(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        };
        let mut stepped = sample().alpha_percentiles;
        let tied = stepped[43];
        stepped[44] = tied;
        stepped[45] = f32::from_bits(tied.to_bits() - 1);
        let loaded = with(stepped).unwrap().alpha_percentiles;
        assert!(loaded.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(loaded[45], tied);
        let mut descent = sample().alpha_percentiles;
        descent[50] = 0.1;
        assert!(matches!(with(descent), Err(MetadataError::Invalid { .. })));
        let mut nan = sample().alpha_percentiles;
        nan[100] = f32::NAN;
        assert!(with(nan).is_err());
    }

    #[test]
    fn missing_and_invalid_keys_are_named() {
        let props = sample().to_props();
        let without = |key: &str| {
            let kept: Vec<_> = props
                .iter()
                .filter(|(k, _)| k != key)
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            ModelMetadata::from_props(kept).unwrap_err()
        };
        assert_eq!(without(keys::CLASSES), MetadataError::Missing(keys::CLASSES));
        assert_eq!(
            without(keys::FORMAT_VERSION),
            MetadataError::Missing(keys::FORMAT_VERSION)
        );
        assert_eq!(
            without(keys::FACE_TEMPLATE),
            MetadataError::Missing(keys::FACE_TEMPLATE)
        );
        // optional ones default
        let m = ModelMetadata::from_props(
            props
                .iter()
                .filter(|(k, _)| k != keys::ALPHA_PERCENTILES && k != keys::VALIDATION)
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .unwrap();
        assert!(m.alpha_percentiles.is_empty() && m.validation.is_none());

        let mut bad = props.clone();
        for (k, v) in &mut bad {
            if k == keys::INPUT {
                *v = r#"{"size":48,"channels":2,"mean":[0.5],"std":[0.5]}"#.into();
            }
        }
        let err = ModelMetadata::from_props(bad.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap_err();
        assert!(
            err.to_string().contains("scn.input") && err.to_string().contains("channels"),
            "{err}"
        );
    }

    /// The prior's offsets are `-tau ln(share)`: nothing at tau 0, the rarest class raised
    /// most; a prior that does not fit the classes is refused by name; older models have none.
    #[test]
    fn class_prior_gives_balance_offsets_and_is_checked() {
        let m = sample();
        assert_eq!(m.balance_offsets(0.0), Some(vec![0.0; 3]));
        let offsets = m.balance_offsets(1.0).unwrap();
        for (o, p) in offsets.iter().zip([0.5f32, 0.3, 0.2]) {
            assert!((o + p.ln()).abs() < 1e-6, "{offsets:?}");
        }
        assert!(offsets[2] > offsets[1] && offsets[1] > offsets[0]);
        let with = |prior: &str| {
            let mut props = m.to_props();
            props.retain(|(k, _)| k != keys::CLASS_PRIOR);
            props.push((keys::CLASS_PRIOR.into(), prior.into()));
            ModelMetadata::from_props(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        };
        for bad in ["[0.5,0.5]", "[0.5,0.3,0.3]", "[1.2,-0.1,-0.1]", "\"even\""] {
            let err = with(bad).unwrap_err();
            assert!(err.to_string().contains(keys::CLASS_PRIOR), "{bad}: {err}");
        }
        let zero = with("[0.6,0.4,0.0]").unwrap().balance_offsets(1.0).unwrap();
        assert!(zero[2].is_finite() && zero[2] > 13.0, "{zero:?}");
        let mut old = m.clone();
        old.class_prior.clear();
        assert!(!old.to_props().iter().any(|(k, _)| k == keys::CLASS_PRIOR));
        assert_eq!(old.balance_offsets(0.5), None);
    }

    #[test]
    fn class_shares_count_each_label() {
        assert_eq!(class_shares(&[0, 1, 1, 2], 3), vec![0.25, 0.5, 0.25]);
        assert_eq!(class_shares(&[0, 0, 7], 2), vec![1.0, 0.0]);
        assert!(class_shares(&[], 3).is_empty());
    }

    #[test]
    fn newer_format_is_refused() {
        let mut props = sample().to_props();
        props[0].1 = "99".into();
        let err = ModelMetadata::from_props(props.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap_err();
        assert!(err.to_string().contains("update scn"), "{err}");
    }

    #[test]
    fn alpha_rank_interpolates_and_handles_saturation() {
        let p: Vec<f32> = (0..=100).map(|i| i as f32 / 100.0).collect();
        assert_eq!(alpha_rank(&p, -1.0), Some(0.0));
        assert_eq!(alpha_rank(&p, 2.0), Some(1.0));
        assert!((alpha_rank(&p, 0.255).unwrap() - 0.255).abs() < 1e-4);
        // saturated: the top half of the validation alphas are all 1.0
        let mut s: Vec<f32> = (0..=100).map(|i| (i as f32 / 50.0).min(1.0)).collect();
        s[100] = 1.0;
        assert_eq!(alpha_rank(&s, 1.0), Some(0.75));
        let mut flat = vec![0.9f32; 101];
        flat[0] = 0.1;
        flat[100] = 0.95;
        let mid = alpha_rank(&flat, 0.9).unwrap();
        assert!((mid - 0.5).abs() < 0.01, "{mid}");
        assert_eq!(alpha_rank(&[], 0.5), None);
        assert_eq!(alpha_rank(&p, f32::NAN), None);
    }

    #[test]
    fn templates_are_valid() {
        FaceTemplate::fer2013().validate().unwrap();
        FaceTemplate::rafdb_aligned().validate().unwrap();
        let mut t = FaceTemplate::fer2013();
        t.landmarks[2] = [60.0, 10.0];
        assert!(t.validate().unwrap_err().contains("nose"));
    }

    #[test]
    fn templates_parse_from_json_and_are_checked() {
        let json = serde_json::to_string(&FaceTemplate::rafdb_aligned()).unwrap();
        assert_eq!(FaceTemplate::from_json(&json).unwrap(), FaceTemplate::rafdb_aligned());
        let err = FaceTemplate::from_json(r#"{"size": 48}"#).unwrap_err();
        assert!(
            err.starts_with("not a face template") && err.contains("landmarks"),
            "{err}"
        );
        let zero_size = json.replace("\"size\":100", "\"size\":0");
        assert!(
            FaceTemplate::from_json(&zero_size).unwrap_err().contains("positive"),
            "{json}"
        );
    }
}
