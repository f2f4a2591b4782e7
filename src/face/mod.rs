//! Faces in frames: detection (MTCNN or RetinaFace on tract) and alignment to a model's face
//! template.

pub mod align;
pub mod boxes;
pub mod detect;
pub mod detector;
mod resample;
pub mod retinaface;
pub mod template;

pub use align::Similarity;
pub use boxes::{BoundingBox, Face};
pub use detect::{DetectorConfig, Mtcnn};
pub use detector::{Detector, DetectorKind};
pub use retinaface::{RetinaFace, RetinaFaceConfig};
