//! The face detector `scn run`, `scn predict` and `scn data template` use: MTCNN or RetinaFace,
//! both built into the binary and both giving boxes and the same five landmarks.

use image::RgbImage;

use crate::error::Result;
use crate::face::boxes::{BoundingBox, Face};
use crate::face::detect::{DetectorConfig, Mtcnn};
use crate::face::retinaface::{RetinaFace, RetinaFaceConfig};

/// Which network finds the faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectorKind {
    /// MTCNN: a cascade of three small networks over an image pyramid.
    Mtcnn,
    /// RetinaFace (MobileNet-0.25): one network over the image, better on small, turned and
    /// dark faces, and two to eighteen times faster here (BENCHMARKS.md): the default.
    #[default]
    RetinaFace,
}

impl DetectorKind {
    /// The network's name as people write it ("RetinaFace").
    pub fn label(self) -> &'static str {
        match self {
            DetectorKind::Mtcnn => "MTCNN",
            DetectorKind::RetinaFace => "RetinaFace",
        }
    }

    /// The name used on the command line and in logs.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::Mtcnn => "mtcnn",
            DetectorKind::RetinaFace => "retinaface",
        }
    }
}

/// A face detector, ready to run.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // One detector per recognizer, made once: boxing would buy nothing.
pub enum Detector {
    /// MTCNN.
    Mtcnn(Mtcnn),
    /// RetinaFace.
    RetinaFace(RetinaFace),
}

impl Detector {
    /// The built-in detector of this kind that finds faces of at least `min_face` pixels and
    /// keeps those whose last score reaches `threshold` (O-Net's for MTCNN, the face
    /// probability for RetinaFace).
    pub fn embedded(kind: DetectorKind, min_face: f32, threshold: f32) -> Result<Detector> {
        Ok(match kind {
            DetectorKind::Mtcnn => {
                let defaults = DetectorConfig::default();
                Detector::Mtcnn(Mtcnn::embedded(DetectorConfig {
                    min_face,
                    thresholds: [defaults.thresholds[0], defaults.thresholds[1], threshold],
                    ..defaults
                })?)
            }
            DetectorKind::RetinaFace => Detector::RetinaFace(RetinaFace::embedded(RetinaFaceConfig {
                min_face: Some(min_face),
                score_threshold: threshold,
                ..RetinaFaceConfig::default()
            })?),
        })
    }

    /// Which kind it is.
    pub fn kind(&self) -> DetectorKind {
        match self {
            Detector::Mtcnn(_) => DetectorKind::Mtcnn,
            Detector::RetinaFace(_) => DetectorKind::RetinaFace,
        }
    }

    /// Finds the faces in an RGB image, most probable first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>> {
        match self {
            Detector::Mtcnn(d) => d.detect(image),
            Detector::RetinaFace(d) => d.detect(image),
        }
    }

    /// Whether following `faces` known faces costs less than searching a `width` x `height`
    /// frame (always for MTCNN, whose search is many times its last stage).
    pub fn following_is_cheaper(&self, width: u32, height: u32, faces: usize) -> bool {
        match self {
            Detector::Mtcnn(_) => true,
            Detector::RetinaFace(d) => d.following_is_cheaper(width, height, faces),
        }
    }

    /// Re-finds faces near known boxes (the previous frame's), at a fraction of a full search.
    pub fn refine(&self, image: &RgbImage, boxes: &[BoundingBox]) -> Result<Vec<Face>> {
        match self {
            Detector::Mtcnn(d) => d.refine(image, boxes),
            Detector::RetinaFace(d) => d.refine(image, boxes),
        }
    }
}

impl From<Mtcnn> for Detector {
    fn from(d: Mtcnn) -> Detector {
        Detector::Mtcnn(d)
    }
}

impl From<RetinaFace> for Detector {
    fn from(d: RetinaFace) -> Detector {
        Detector::RetinaFace(d)
    }
}
