//! What a face detector finds: boxes and faces (box, score, five landmarks), shared by the
//! detectors, the tracker and the recognizer.

/// An axis-aligned box in pixel coordinates (MTCNN's corners are inclusive, RetinaFace's
/// `x2 = x1 + width`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Left.
    pub x1: f32,
    /// Top.
    pub y1: f32,
    /// Right.
    pub x2: f32,
    /// Bottom.
    pub y2: f32,
}

impl BoundingBox {
    /// Width.
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }

    /// Height.
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    /// Intersection over union with another box (0 when they do not overlap).
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.width() * self.height() + other.width() * other.height() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// A detected face.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// Where it is.
    pub bbox: BoundingBox,
    /// The detector's face probability (O-Net's for MTCNN).
    pub score: f32,
    /// Left eye, right eye, nose, left mouth corner, right mouth corner (image left/right:
    /// the "left eye" is the one with the smaller x), as (x, y) pixels.
    pub landmarks: [[f32; 2]; 5],
}
