//! Face alignment: the similarity transform (rotation, uniform scale, translation) that best
//! maps a face's five detected landmarks onto the model's face template (least squares,
//! Umeyama 1991), and the warp that cuts the aligned crop out of the frame. Faces aligned this
//! way sit where the training images put them, which is what the classifier was trained on.

use image::RgbImage;
use scn_train::metadata::FaceTemplate;

/// `[x', y'] = [[a, -b], [b, a]] [x, y] + [tx, ty]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// `scale * cos(angle)`.
    pub a: f32,
    /// `scale * sin(angle)`.
    pub b: f32,
    /// Translation x.
    pub tx: f32,
    /// Translation y.
    pub ty: f32,
}

impl Similarity {
    /// The least-squares similarity that maps `from[i]` onto `to[i]` (None when the source
    /// points coincide).
    pub fn estimate(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Similarity> {
        let n = from.len().min(to.len());
        if n < 2 {
            return None;
        }
        let mean = |p: &[[f32; 2]]| {
            let (sx, sy) = p[..n]
                .iter()
                .fold((0.0f64, 0.0f64), |(x, y), q| (x + q[0] as f64, y + q[1] as f64));
            (sx / n as f64, sy / n as f64)
        };
        let (fx, fy) = mean(from);
        let (tx, ty) = mean(to);
        // Minimise sum |R s (p - pm) + qm - q|^2 over a = s cos, b = s sin: closed form.
        let (mut num_a, mut num_b, mut den) = (0.0f64, 0.0f64, 0.0f64);
        for (p, q) in from[..n].iter().zip(&to[..n]) {
            let (px, py) = (p[0] as f64 - fx, p[1] as f64 - fy);
            let (qx, qy) = (q[0] as f64 - tx, q[1] as f64 - ty);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            den += px * px + py * py;
        }
        if den < 1e-9 {
            return None;
        }
        let (a, b) = (num_a / den, num_b / den);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: (tx - (a * fx - b * fy)) as f32,
            ty: (ty - (b * fx + a * fy)) as f32,
        })
    }

    /// Maps a point.
    pub fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty]
    }

    /// The inverse transform (None for a degenerate one).
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d < 1e-12 {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    /// The scale factor.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// The template's landmarks scaled to a crop of `side` pixels.
pub fn template_points(template: &FaceTemplate, side: u32) -> [[f32; 2]; 5] {
    let k = side as f32 / template.size as f32;
    template.landmarks.map(|[x, y]| [x * k, y * k])
}

/// Writes the aligned `side` x `side` RGB crop of the face whose landmarks are `landmarks`
/// into `out` (bilinear sampling; outside the frame is black). Returns the transform from
/// frame to crop, or None when the landmarks are degenerate.
pub fn align_into(
    frame: &RgbImage,
    landmarks: &[[f32; 2]; 5],
    template: &FaceTemplate,
    side: u32,
    out: &mut RgbImage,
) -> Option<Similarity> {
    let target = template_points(template, side);
    let to_crop = Similarity::estimate(landmarks, &target)?;
    let to_frame = to_crop.inverse()?;
    if out.dimensions() != (side, side) {
        *out = RgbImage::new(side, side);
    }
    warp_into(frame, &to_frame, out);
    Some(to_crop)
}

/// Fills `out` by sampling `frame` at `to_frame(x + 0.5, y + 0.5) - 0.5` (bilinear; outside is
/// black).
pub fn warp_into(frame: &RgbImage, to_frame: &Similarity, out: &mut RgbImage) {
    let (fw, fh) = (frame.width() as i64, frame.height() as i64);
    let src = frame.as_raw();
    let (ow, oh) = out.dimensions();
    let dst: &mut [u8] = out;
    let texel = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= fw || y >= fh {
            return [0.0; 3];
        }
        let i = (y * fw + x) as usize * 3;
        [f32::from(src[i]), f32::from(src[i + 1]), f32::from(src[i + 2])]
    };
    for y in 0..oh {
        for x in 0..ow {
            let [sx, sy] = to_frame.apply([x as f32 + 0.5, y as f32 + 0.5]);
            let (sx, sy) = (sx - 0.5, sy - 0.5);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (tx, ty) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let (p00, p10, p01, p11) = (
                texel(x0, y0),
                texel(x0 + 1, y0),
                texel(x0, y0 + 1),
                texel(x0 + 1, y0 + 1),
            );
            let o = (y as usize * ow as usize + x as usize) * 3;
            for c in 0..3 {
                let top = p00[c] + (p10[c] - p00[c]) * tx;
                let bottom = p01[c] + (p11[c] - p01[c]) * tx;
                dst[o + c] = (top + (bottom - top) * ty).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_similarity_is_recovered_exactly() {
        let truth = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -2.0,
        };
        let from = [[10.0, 10.0], [30.0, 12.0], [20.0, 22.0], [12.0, 31.0], [29.0, 30.0]];
        let to = from.map(|p| truth.apply(p));
        let est = Similarity::estimate(&from, &to).unwrap();
        for (x, y) in [
            (est.a, truth.a),
            (est.b, truth.b),
            (est.tx, truth.tx),
            (est.ty, truth.ty),
        ] {
            assert!((x - y).abs() < 1e-4, "{est:?} vs {truth:?}");
        }
        let back = est.inverse().unwrap();
        let p = back.apply(est.apply([7.0, -3.0]));
        assert!((p[0] - 7.0).abs() < 1e-4 && (p[1] + 3.0).abs() < 1e-4);
        assert!(Similarity::estimate(&[[1.0, 1.0]; 5], &to).is_none());
    }

    #[test]
    fn aligning_a_template_face_is_the_identity() {
        // A frame whose content is the template crop itself, at 3x: the aligned crop at the
        // template size must reproduce the frame's pixels downsampled, and the landmarks map
        // onto the template.
        let template = FaceTemplate::fer2013();
        let frame = RgbImage::from_fn(144, 144, |x, y| {
            image::Rgb([(x * 255 / 143) as u8, (y * 255 / 143) as u8, 128])
        });
        let landmarks = template.landmarks.map(|[x, y]| [x * 3.0, y * 3.0]);
        let mut crop = RgbImage::new(1, 1);
        let t = align_into(&frame, &landmarks, &template, 48, &mut crop).unwrap();
        assert!((t.scale() - 1.0 / 3.0).abs() < 1e-5 && t.b.abs() < 1e-6);
        assert_eq!(crop.dimensions(), (48, 48));
        // Crop pixel (x, y) samples frame (3x + 1, 3y + 1).
        for (x, y) in [(0u32, 0u32), (10, 40), (47, 47), (24, 5)] {
            let want = frame.get_pixel(3 * x + 1, 3 * y + 1);
            let got = crop.get_pixel(x, y);
            for c in 0..2 {
                assert!(
                    (i32::from(want[c]) - i32::from(got[c])).abs() <= 1,
                    "({x},{y}): {want:?} vs {got:?}"
                );
            }
        }
    }
}
