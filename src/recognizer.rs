//! The live recognizer: per frame, detect the faces, align each to the model's face template,
//! classify them (one face per core), and follow them across frames. Buffers (crops, the batch)
//! are allocated once and reused, so a camera loop does not allocate per frame beyond the
//! detector's small per-face vectors.

use std::time::Instant;

use image::RgbImage;

use crate::classifier::{Classifier, argmax};
use crate::error::Result;
use crate::face::{BoundingBox, Detector, align};
use crate::track::{Observation, Tracker, TrackerConfig};

/// One recognised face.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceResult {
    /// Track id: the same face keeps it across frames.
    pub id: u64,
    /// `[x1, y1, x2, y2]` in frame pixels.
    pub bbox: [f32; 4],
    /// Detector score.
    pub score: f32,
    /// Eyes, nose, mouth corners, `[x, y]` in frame pixels.
    pub landmarks: [[f32; 2]; 5],
    /// The most probable expression.
    pub expression: String,
    /// Its (smoothed) probability.
    pub probability: f32,
    /// Every class's (smoothed) probability, in the model's class order.
    pub probabilities: Vec<f32>,
    /// SCN's attention weight (smoothed), for models that have one.
    pub alpha: Option<f32>,
    /// Fraction of validation faces with a lower alpha.
    pub certainty: Option<f32>,
}

/// Milliseconds spent per stage on one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// Face detection.
    pub detect: f64,
    /// Alignment and preprocessing of the crops.
    pub align: f64,
    /// Expression classification (one batch).
    pub classify: f64,
}

impl StageTimes {
    /// Sum of the stages.
    pub fn total(&self) -> f64 {
        self.detect + self.align + self.classify
    }
}

/// What the recognizer found in one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameResult {
    /// The faces, largest first.
    pub faces: Vec<FaceResult>,
    /// Whether the whole frame was searched (false: the last frame's faces were followed).
    pub full_detection: bool,
    /// Time per stage.
    pub ms: StageTimes,
}

/// Detector + classifier + tracker.
#[derive(Debug)]
pub struct Recognizer {
    detector: Detector,
    classifier: Classifier,
    tracker: Tracker,
    max_faces: usize,
    detect_every: usize,
    since_detection: usize,
    last_boxes: Vec<BoundingBox>,
    crop: RgbImage,
    grey: Vec<u8>,
    batch: Vec<f32>,
}

impl Recognizer {
    /// Puts the parts together; `max_faces` caps the faces classified per frame (the largest
    /// are kept). The whole frame is searched for faces every frame; see
    /// [`Recognizer::detect_every`] to follow known faces in between.
    pub fn new(detector: Detector, classifier: Classifier, tracker: TrackerConfig, max_faces: usize) -> Recognizer {
        Recognizer {
            detector,
            classifier,
            tracker: Tracker::new(tracker),
            max_faces: max_faces.max(1),
            detect_every: 1,
            since_detection: 0,
            last_boxes: Vec::new(),
            crop: RgbImage::new(1, 1),
            grey: Vec::new(),
            batch: Vec::new(),
        }
    }

    /// The classifier.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// The detector.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Searches the whole frame only every `frames` frames (and whenever no face is known);
    /// in between, the last frame's faces are followed by the detector's last stage alone,
    /// which costs a fraction of a full search. New faces then appear up to `frames - 1`
    /// frames late. 1 searches every frame.
    pub fn detect_every(mut self, frames: usize) -> Recognizer {
        self.detect_every = frames.max(1);
        self
    }

    /// Forgets the tracked faces (a new, unrelated image).
    pub fn reset_tracks(&mut self, tracker: TrackerConfig) {
        self.tracker = Tracker::new(tracker);
        self.last_boxes.clear();
        self.since_detection = 0;
    }

    /// Writes the aligned crop of a face (model input size, RGB) into `out`; false when the
    /// landmarks are degenerate.
    pub fn aligned_crop(&self, image: &RgbImage, landmarks: &[[f32; 2]; 5], out: &mut RgbImage) -> bool {
        let meta = self.classifier.metadata();
        align::align_into(image, landmarks, &meta.face_template, meta.input.size, out).is_some()
    }

    /// Recognises the faces of a frame.
    pub fn process(&mut self, image: &RgbImage) -> Result<FrameResult> {
        let t0 = Instant::now();
        let full = self.last_boxes.is_empty()
            || self.since_detection + 1 >= self.detect_every
            || !self
                .detector
                .following_is_cheaper(image.width(), image.height(), self.last_boxes.len());
        let mut faces = if full {
            self.since_detection = 0;
            self.detector.detect(image)?
        } else {
            self.since_detection += 1;
            self.detector.refine(image, &self.last_boxes)?
        };
        faces.sort_by(|a, b| (b.bbox.width() * b.bbox.height()).total_cmp(&(a.bbox.width() * a.bbox.height())));
        faces.truncate(self.max_faces);
        self.last_boxes.clear();
        self.last_boxes.extend(faces.iter().map(|f| f.bbox));
        let t1 = Instant::now();

        let meta = self.classifier.metadata();
        let side = meta.input.size;
        let n = self.classifier.input_len();
        self.batch.resize(n * faces.len(), 0.0);
        let mut kept = Vec::with_capacity(faces.len());
        for face in &faces {
            let slot = kept.len();
            if align::align_into(image, &face.landmarks, &meta.face_template, side, &mut self.crop).is_none() {
                continue;
            }
            self.classifier.normalize_aligned_into(
                &self.crop,
                &mut self.grey,
                &mut self.batch[slot * n..(slot + 1) * n],
            );
            kept.push(face);
        }
        self.batch.truncate(n * kept.len());
        let t2 = Instant::now();

        let observations: Vec<Observation> = kept
            .iter()
            .zip(self.classifier.classify_preprocessed(&self.batch)?)
            .map(|(face, p)| Observation {
                bbox: face.bbox,
                probabilities: p.probabilities,
                alpha: p.alpha,
            })
            .collect();
        let tracked = self.tracker.update(&observations);
        let t3 = Instant::now();

        let classes = self.classifier.classes();
        let results = kept
            .iter()
            .zip(tracked)
            .map(|(face, t)| {
                let class = argmax(&t.probabilities);
                let BoundingBox { x1, y1, x2, y2 } = face.bbox;
                FaceResult {
                    id: t.id,
                    bbox: [x1, y1, x2, y2],
                    score: face.score,
                    landmarks: face.landmarks,
                    expression: classes.get(class).cloned().unwrap_or_default(),
                    probability: t.probabilities.get(class).copied().unwrap_or(0.0),
                    certainty: t.alpha.and_then(|a| meta.certainty(a)),
                    alpha: t.alpha,
                    probabilities: t.probabilities,
                }
            })
            .collect();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        Ok(FrameResult {
            faces: results,
            full_detection: full,
            ms: StageTimes {
                detect: ms(t0, t1),
                align: ms(t1, t2),
                classify: ms(t2, t3),
            },
        })
    }
}
