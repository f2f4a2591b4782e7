//! Faces in frames: detection (MTCNN on tract) and alignment to a model's face template.

pub mod align;
pub mod detect;
pub mod template;

pub use align::Similarity;
pub use detect::{BoundingBox, DetectorConfig, Face, Mtcnn};
