//! Faces in frames: detection (MTCNN or RetinaFace on tract) and alignment to a model's face
//! template.

pub mod align;
pub mod detect;
pub mod detector;
mod resample;
pub mod retinaface;
pub mod template;

pub use align::Similarity;
pub use detect::{BoundingBox, DetectorConfig, Face, Mtcnn};
pub use detector::{Detector, DetectorKind};
pub use retinaface::{RetinaFace, RetinaFaceConfig};
