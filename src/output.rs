//! The JSON lines of `scn run --json` (one per frame) and `scn predict --json` (one per image):
//! one schema, as types. README.md describes these fields.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::recognizer::{FaceResult, FrameResult};

/// Each class's probability by class name, in the model's class order.
#[derive(Debug, Clone, Copy)]
pub struct ClassProbabilities<'a> {
    /// Class names.
    pub classes: &'a [String],
    /// One probability per class.
    pub values: &'a [f32],
}

impl Serialize for ClassProbabilities<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.classes.len().min(self.values.len())))?;
        for (class, p) in self.classes.iter().zip(self.values) {
            map.serialize_entry(class, p)?;
        }
        map.end()
    }
}

/// One classified face.
#[derive(Debug, Clone, Serialize)]
pub struct FaceRecord<'a> {
    /// Track id (`scn run`: the same face keeps it across frames; not in `scn predict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// `[x1, y1, x2, y2]` in pixels (the whole image for a crop classified whole).
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The detector's score (null for a crop classified whole).
    pub score: Option<f32>,
    /// Eyes, nose, mouth corners as `[x, y]` (null for a crop classified whole).
    pub landmarks: Option<[[f32; 2]; 5]>,
    /// The most probable expression.
    pub expression: Option<&'a str>,
    /// Its probability.
    pub probability: f32,
    /// Every class's probability, by name.
    pub probabilities: ClassProbabilities<'a>,
    /// SCN's attention weight, for models that have one.
    pub alpha: Option<f32>,
    /// Fraction of validation faces with a lower attention weight.
    pub certainty: Option<f32>,
}

impl<'a> FaceRecord<'a> {
    /// A face the live recognizer found and followed.
    pub fn tracked(face: &'a FaceResult, classes: &'a [String]) -> FaceRecord<'a> {
        FaceRecord {
            id: Some(face.id),
            bbox: face.bbox,
            score: Some(face.score),
            landmarks: Some(face.landmarks),
            expression: Some(face.expression.as_str()),
            probability: face.probability,
            probabilities: ClassProbabilities {
                classes,
                values: &face.probabilities,
            },
            alpha: face.alpha,
            certainty: face.certainty,
        }
    }
}

/// Milliseconds per stage of one frame.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StageRecord {
    /// Face detection.
    pub detect: f64,
    /// Alignment and preprocessing.
    pub align: f64,
    /// Classification.
    pub classify: f64,
    /// All three.
    pub total: f64,
}

/// One frame of `scn run --json`.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord<'a> {
    /// Frame number from 0.
    pub frame: u64,
    /// Seconds from the start of the stream (to the millisecond; 0 for images).
    pub time: f64,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// The image file, for `--images`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Whether the whole frame was searched (false: the last frame's faces were followed).
    pub full_detection: bool,
    /// The faces, largest first.
    pub faces: Vec<FaceRecord<'a>>,
    /// Time per stage.
    pub ms: StageRecord,
}

impl<'a> FrameRecord<'a> {
    /// The record of a recognised frame.
    pub fn new(frame: &crate::source::Frame, result: &'a FrameResult, classes: &'a [String]) -> FrameRecord<'a> {
        FrameRecord {
            frame: frame.index,
            time: (frame.time * 1000.0).round() / 1000.0,
            width: frame.image.width(),
            height: frame.image.height(),
            image: frame.path.as_ref().map(|p| p.display().to_string()),
            full_detection: result.full_detection,
            faces: result.faces.iter().map(|f| FaceRecord::tracked(f, classes)).collect(),
            ms: StageRecord {
                detect: result.ms.detect,
                align: result.ms.align,
                classify: result.ms.classify,
                total: result.ms.total(),
            },
        }
    }
}

/// One image of `scn predict --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRecord<'a> {
    /// The image file.
    pub image: &'a str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether the image was classified whole (a face crop) instead of searched for faces.
    pub crop: bool,
    /// The faces (empty when none was found).
    pub faces: Vec<FaceRecord<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recognizer::StageTimes;

    fn keys(v: &serde_json::Value) -> Vec<&str> {
        let mut k: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    #[test]
    fn a_frame_and_its_faces_serialize_to_the_documented_fields() {
        let classes = vec!["neutral".to_string(), "happiness".to_string()];
        let result = FrameResult {
            faces: vec![FaceResult {
                id: 3,
                bbox: [1.0, 2.0, 30.0, 40.0],
                score: 0.99,
                landmarks: [[5.0, 6.0]; 5],
                expression: "happiness".into(),
                probability: 0.75,
                probabilities: vec![0.25, 0.75],
                alpha: Some(0.9),
                certainty: None,
            }],
            full_detection: true,
            ms: StageTimes {
                detect: 1.0,
                align: 0.5,
                classify: 2.0,
            },
        };
        let mut frame = crate::source::Frame::empty();
        frame.index = 7;
        frame.time = 0.28000001;
        let v = serde_json::to_value(FrameRecord::new(&frame, &result, &classes)).unwrap();
        assert_eq!(
            keys(&v),
            ["faces", "frame", "full_detection", "height", "ms", "time", "width"]
        );
        assert_eq!((v["frame"].as_u64(), v["time"].as_f64()), (Some(7), Some(0.28)));
        assert_eq!(v["ms"]["total"], 3.5);
        let face = &v["faces"][0];
        assert_eq!(
            keys(face),
            [
                "alpha",
                "box",
                "certainty",
                "expression",
                "id",
                "landmarks",
                "probabilities",
                "probability",
                "score"
            ]
        );
        assert_eq!(
            face["probabilities"],
            serde_json::json!({"neutral": 0.25, "happiness": 0.75})
        );
        assert_eq!(face["box"], serde_json::json!([1.0, 2.0, 30.0, 40.0]));
        assert!(face["certainty"].is_null());
        // An image file's frame names it.
        frame.path = Some("a/b.jpg".into());
        let v = serde_json::to_value(FrameRecord::new(&frame, &result, &classes)).unwrap();
        assert_eq!(v["image"], "a/b.jpg");
    }

    #[test]
    fn a_crop_classified_whole_has_no_id_score_or_landmarks() {
        let classes = vec!["neutral".to_string()];
        let probabilities = [1.0];
        let record = ImageRecord {
            image: "crop.png",
            width: 48,
            height: 48,
            crop: true,
            faces: vec![FaceRecord {
                id: None,
                bbox: [0.0, 0.0, 48.0, 48.0],
                score: None,
                landmarks: None,
                expression: Some("neutral"),
                probability: 1.0,
                probabilities: ClassProbabilities {
                    classes: &classes,
                    values: &probabilities,
                },
                alpha: None,
                certainty: None,
            }],
        };
        let v = serde_json::to_value(record).unwrap();
        assert_eq!(keys(&v), ["crop", "faces", "height", "image", "width"]);
        let face = &v["faces"][0];
        assert!(face.get("id").is_none() && face["score"].is_null() && face["landmarks"].is_null());
    }
}
