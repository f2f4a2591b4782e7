//! The expression classifier of the runtime: an exported SCN (or any ONNX image classifier)
//! run with tract. It reads the model's metadata, preprocesses face crops exactly as training
//! did, runs a batch of faces at once and returns per-class probabilities, the predicted class,
//! SCN's attention weight alpha and the certainty calibrated on the validation faces.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use image::{DynamicImage, RgbImage};
use rayon::prelude::*;
use scn_train::data::input::InputConfig;
use scn_train::metadata::ModelMetadata;
use tract_onnx::prelude::*;

use crate::error::{Error, Result};

mod load;
pub use load::ModelOverrides;

/// Memory order of the model's image input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[N, C, H, W]` (PyTorch, burn; what `scn export` writes).
    Nchw,
    /// `[N, H, W, C]` (Keras/TensorFlow models).
    Nhwc,
}

/// What the class output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Unnormalised scores: the runtime applies a softmax (SCN's `alpha * fc(x)`).
    Logits,
    /// Probabilities already (a model that ends in a softmax).
    Probabilities,
}

/// The classification of one face.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Probability of each class, in the model's class order.
    pub probabilities: Vec<f32>,
    /// Index of the most probable class.
    pub class: usize,
    /// Its probability.
    pub confidence: f32,
    /// SCN's attention weight (None for models without one, such as `--baseline` ones).
    pub alpha: Option<f32>,
    /// Fraction of validation faces with a lower alpha (0..1): how sure the model is of this
    /// face compared with the faces it was validated on. None without calibration data.
    pub certainty: Option<f32>,
}

/// Time spent in one kind of operator per run of a plan ([`Classifier::profile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    /// tract's operator name (`Conv`, `OptMatMul`, `Add`...).
    pub op: String,
    /// Nodes of that kind in the plan.
    pub nodes: usize,
    /// Milliseconds per run, all its nodes together.
    pub ms: f64,
    /// Each of its nodes that is a matrix product: what tract says of it (`Mult: m:.. k:..
    /// n:.. with [kernel]`) and its milliseconds per run.
    pub products: Vec<(String, f64)>,
}

/// An expression classifier loaded from an ONNX file.
pub struct Classifier {
    /// For any batch size (symbolic batch axis).
    plan: Arc<TypedSimplePlan>,
    /// Plans compiled for one batch size: tract optimises concrete shapes better (batch 1 runs
    /// about 20% faster than through the symbolic plan). Batch 1 is compiled at load time.
    fixed: Mutex<HashMap<usize, Arc<TypedSimplePlan>>>,
    /// Batch sizes that run faster one face at a time through the batch-1 plan than through a
    /// plan of their own (see [`Classifier::prepare_batch`]).
    one_by_one: Mutex<std::collections::HashSet<usize>>,
    /// The model as loaded, for [`Classifier::prepare_batch`].
    source: InferenceModel,
    /// The most faces one call takes, for graphs that fix their batch size.
    max_batch: Option<usize>,
    metadata: ModelMetadata,
    path: PathBuf,
    layout: Layout,
    output: OutputKind,
    logits_index: usize,
    alpha_index: Option<usize>,
    from_metadata: bool,
    /// Average each face with its mirror image (see [`Classifier::set_flip_averaging`]).
    flip: bool,
    /// Faces and their mirror images, reused from call to call.
    flip_batch: Mutex<Vec<f32>>,
    /// The strength and per-class logit offsets of [`Classifier::set_balance`] (none: off).
    balance: Option<(f32, Vec<f32>)>,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("path", &self.path)
            .field("classes", &self.metadata.classes)
            .field("input", &self.metadata.input)
            .field("layout", &self.layout)
            .finish()
    }
}

fn model_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl Classifier {
    /// Compiles a plan for batches of exactly `faces` faces (faster than the any-size plan);
    /// worth it for a batch size used many times, such as an evaluation's.
    ///
    /// tract gathers a convolution's input patches lazily, inside the matrix product, only at
    /// batch 1; a plan for more faces materialises them first (its `Im2col` nodes), which cost
    /// as much as the products themselves here (43% of a batch of 32 on the shipped model, in
    /// `cargo bench --bench inference -- --profile`). Such a batch runs instead as its faces one
    /// by one through the batch-1 plan: about 1.3x faster per face.
    pub fn prepare_batch(&self, faces: usize) -> Result<()> {
        let faces = if self.flip { 2 * faces } else { faces };
        if faces == 0 || self.max_batch.is_some() || self.fixed_plan(faces).is_some() || self.runs_one_by_one(faces) {
            return Ok(());
        }
        let plan = self.compile_for(faces)?;
        let gathers_eagerly = |plan: &TypedSimplePlan| plan.model().nodes().iter().any(|n| n.op().name() == "Im2col");
        if faces > 1
            && let Some(single) = self.fixed_plan(1)
            && gathers_eagerly(&plan)
            && !gathers_eagerly(&single)
        {
            log::debug!("{}: batches of {faces} run one face at a time", self.path.display());
            if let Ok(mut one_by_one) = self.one_by_one.lock() {
                one_by_one.insert(faces);
            }
            return Ok(());
        }
        if let Ok(mut fixed) = self.fixed.lock() {
            fixed.insert(faces, plan);
        }
        Ok(())
    }

    /// A plan for batches of exactly `faces` faces.
    fn compile_for(&self, faces: usize) -> Result<Arc<TypedSimplePlan>> {
        self.source
            .clone()
            .with_input_fact(0, f32::fact(self.input_shape(faces)).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| model_error(&self.path, format!("cannot compile the model for batch {faces}: {e:#}")))
    }

    /// The input tensor's shape for `faces` faces.
    fn input_shape(&self, faces: usize) -> [usize; 4] {
        let (c, s) = (self.metadata.input.channels as usize, self.metadata.input.size as usize);
        match self.layout {
            Layout::Nchw => [faces, c, s, s],
            Layout::Nhwc => [faces, s, s, c],
        }
    }

    fn runs_one_by_one(&self, faces: usize) -> bool {
        self.one_by_one.lock().is_ok_and(|set| set.contains(&faces))
    }

    /// Where tract's time goes: runs a plan compiled for `faces` faces `runs` times on a
    /// constant input, timing every node, and returns the time per operator kind (slowest
    /// first), per run.
    pub fn profile(&self, faces: usize, runs: usize) -> Result<Vec<OpTime>> {
        let plan = match (self.fixed_plan(faces), self.max_batch) {
            (Some(plan), _) => plan,
            (None, Some(_)) => self.plan.clone(),
            (None, None) => self.compile_for(faces)?,
        };
        let shape = self.input_shape(faces);
        let input = Tensor::from_shape(&shape, &vec![0.1f32; shape.iter().product()])
            .map_err(|e| Error::Inference(format!("{e:#}")))?
            .into_tvalue();
        let mut state = plan.spawn().map_err(|e| Error::Inference(format!("{e:#}")))?;
        let runs = runs.max(1);
        let mut times: HashMap<String, OpTime> = HashMap::new();
        // Node id -> its matrix product's index in its operator's `products`.
        let mut product_slots: HashMap<usize, usize> = HashMap::new();
        for run in 0..=runs {
            state
                .run_plan_with_eval(tvec!(input.clone()), |ctx, op_state, node, inputs| {
                    let started = std::time::Instant::now();
                    let outputs = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    // The first run warms caches and is not counted.
                    if run > 0 {
                        let op = node.op().name().to_string();
                        let entry = times.entry(op.clone()).or_insert_with(|| OpTime {
                            op,
                            nodes: 0,
                            ms: 0.0,
                            products: Vec::new(),
                        });
                        let ms = started.elapsed().as_secs_f64() * 1000.0;
                        entry.ms += ms;
                        if run == 1 {
                            entry.nodes += 1;
                            let info = node.op().info().unwrap_or_default();
                            if let Some(product) = info.into_iter().find(|line| line.starts_with("Mult:")) {
                                product_slots.insert(node.id, entry.products.len());
                                entry.products.push((product, 0.0));
                            }
                        }
                        if let Some(&slot) = product_slots.get(&node.id) {
                            entry.products[slot].1 += ms;
                        }
                    }
                    outputs
                })
                .map_err(|e| Error::Inference(format!("{}: {e:#}", self.path.display())))?;
        }
        let mut times: Vec<OpTime> = times.into_values().collect();
        for t in &mut times {
            t.ms /= runs as f64;
            for product in &mut t.products {
                product.1 /= runs as f64;
            }
        }
        times.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(times)
    }

    fn fixed_plan(&self, faces: usize) -> Option<Arc<TypedSimplePlan>> {
        self.fixed.lock().ok().and_then(|f| f.get(&faces).cloned())
    }

    /// Test-time flip averaging: every face also runs mirrored left to right and the two
    /// outputs (class scores and alpha) are averaged. Expressions are symmetric enough that this
    /// usually gains a little accuracy, for twice the classification work.
    pub fn set_flip_averaging(&mut self, on: bool) -> Result<()> {
        self.flip = on;
        self.prepare_batch(1)
    }

    /// Whether flip averaging is on.
    pub fn flip_averaging(&self) -> bool {
        self.flip
    }

    /// Balances the decision between frequent and rare classes by post-hoc logit adjustment:
    /// `-tau * ln(prior)` is added to each class's score before the softmax, the prior being
    /// each class's share of the training labels (the model's `scn.class_prior`; see
    /// [`ModelMetadata::balance_offsets`]). `tau` 0 (the default) is the model as trained; 1 the
    /// decision that is right as often on each class. Needs a prior: models exported before it
    /// was recorded are refused by name. `tau` must be within 0-2.
    pub fn set_balance(&mut self, tau: f32) -> Result<()> {
        if !(0.0..=2.0).contains(&tau) {
            return Err(model_error(
                &self.path,
                format!("the balance must be within 0-2, got {tau}"),
            ));
        }
        if tau == 0.0 {
            self.balance = None;
            return Ok(());
        }
        let offsets = self.metadata.balance_offsets(tau).ok_or_else(|| {
            model_error(
                &self.path,
                "the model records no class prior (metadata key scn.class_prior), which balancing needs: \
                 export it again with `scn export` of this version",
            )
        })?;
        if offsets.len() != self.metadata.classes.len() {
            return Err(model_error(
                &self.path,
                format!(
                    "the class prior has {} shares for {} classes",
                    offsets.len(),
                    self.metadata.classes.len()
                ),
            ));
        }
        self.balance = Some((tau, offsets));
        Ok(())
    }

    /// The balance strength `tau` of [`Classifier::set_balance`] (0: off).
    pub fn balance(&self) -> f32 {
        self.balance.as_ref().map_or(0.0, |(tau, _)| *tau)
    }

    /// The model's metadata (after overrides).
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the metadata came from the file (true) or from the overrides alone.
    pub fn has_embedded_metadata(&self) -> bool {
        self.from_metadata
    }

    /// What the class output holds (logits or probabilities).
    pub fn output_kind(&self) -> OutputKind {
        self.output
    }

    /// Class names in output order.
    pub fn classes(&self) -> &[String] {
        &self.metadata.classes
    }

    /// The input preprocessing.
    pub fn input(&self) -> &InputConfig {
        &self.metadata.input
    }

    /// Floats of one preprocessed face.
    pub fn input_len(&self) -> usize {
        self.metadata.input.numel()
    }

    /// Preprocesses a face crop as training did (grey/RGB, resize to the input size with the
    /// Triangle filter, scale, mean/std) into `out` (`input_len()` floats, the model's layout).
    pub fn preprocess_into(&self, face: &DynamicImage, out: &mut [f32]) {
        let pixels = self.metadata.input.pixels(face);
        self.normalize_into(&pixels, out);
    }

    /// Normalises interleaved bytes (`size * size * channels`, as [`InputConfig::pixels`]) into
    /// `out` in the model's layout.
    pub fn normalize_into(&self, pixels: &[u8], out: &mut [f32]) {
        let input = &self.metadata.input;
        match self.layout {
            Layout::Nchw => input.normalize_into(pixels, out),
            Layout::Nhwc => {
                let c = input.channels as usize;
                for (i, (d, &p)) in out.iter_mut().zip(pixels).enumerate() {
                    let ch = i % c;
                    *d = (f32::from(p) / 255.0 - input.mean[ch]) / input.std[ch];
                }
            }
        }
    }

    /// Normalises a face aligned to the model's template (RGB, already `size` x `size`) into
    /// `out`, grey (as training converts, through `grey`, a reused buffer) or RGB as the model
    /// takes it: the live recognizer's per-face preprocessing, allocation-free.
    pub fn normalize_aligned_into(&self, crop: &RgbImage, grey: &mut Vec<u8>, out: &mut [f32]) {
        if self.metadata.input.channels == 1 {
            grey.clear();
            grey.extend(crop.pixels().map(|p| luma(p.0)));
            self.normalize_into(grey, out);
        } else {
            self.normalize_into(crop.as_raw(), out);
        }
    }

    /// Classifies face crops.
    pub fn classify(&self, faces: &[DynamicImage]) -> Result<Vec<Prediction>> {
        let n = self.input_len();
        let mut batch = vec![0.0f32; n * faces.len()];
        for (face, out) in faces.iter().zip(batch.chunks_exact_mut(n)) {
            self.preprocess_into(face, out);
        }
        self.classify_preprocessed(&batch)
    }

    /// Runs the network on a batch of preprocessed faces (`input_len()` floats each, one after
    /// another): the class output and alpha as the model returns them (with flip averaging,
    /// the mean of each face's and its mirror image's).
    pub fn run(&self, batch: &[f32]) -> Result<RawOutput> {
        if !self.flip {
            return self.run_network(batch);
        }
        let n = self.input_len();
        // The kept buffer, unless another thread (an evaluation's parallel batches) holds it.
        let mut guard = self.flip_batch.try_lock().ok();
        let mut local = Vec::new();
        let doubled: &mut Vec<f32> = guard.as_deref_mut().unwrap_or(&mut local);
        doubled.clear();
        doubled.extend_from_slice(batch);
        doubled.extend_from_slice(batch);
        let (c, s) = (self.metadata.input.channels as usize, self.metadata.input.size as usize);
        for face in doubled[batch.len()..].chunks_exact_mut(n) {
            mirror(face, self.layout, c, s);
        }
        let raw = self.run_network(doubled)?;
        let (faces, k) = (raw.faces / 2, raw.classes);
        let (plain, mirrored) = raw.scores.split_at(faces * k);
        Ok(RawOutput {
            faces,
            classes: k,
            scores: plain.iter().zip(mirrored).map(|(a, b)| 0.5 * (a + b)).collect(),
            alpha: raw.alpha.map(|a| {
                let (plain, mirrored) = a.split_at(faces);
                plain.iter().zip(mirrored).map(|(a, b)| 0.5 * (a + b)).collect()
            }),
        })
    }

    fn run_network(&self, batch: &[f32]) -> Result<RawOutput> {
        let n = self.input_len();
        if !batch.len().is_multiple_of(n) {
            return Err(Error::InvalidArgument(format!(
                "a batch of preprocessed faces must hold a multiple of {n} floats, got {}",
                batch.len()
            )));
        }
        let faces = batch.len() / n;
        let k = self.metadata.classes.len();
        if faces == 0 {
            return Ok(RawOutput {
                faces,
                classes: k,
                scores: Vec::new(),
                alpha: None,
            });
        }
        if let Some(max) = self.max_batch
            && faces > max
        {
            let parts = batch.chunks(max * n).map(|chunk| self.run_network(chunk));
            return concatenate(parts, faces, k);
        }
        if faces > 1 && self.runs_one_by_one(faces) {
            let parts = batch.chunks(n).map(|face| self.run_network(face));
            return concatenate(parts, faces, k);
        }
        // A few faces (a live frame's) with no plan compiled for their number: one at a time on
        // the batch-1 plan, in parallel. tract runs a batch no faster per face than one face,
        // so the cores are better used side by side (five faces: about half the time on two).
        if faces > 1
            && self.fixed_plan(faces).is_none()
            && self.fixed_plan(1).is_some()
            && !MULTITHREADED_PRODUCTS.load(std::sync::atomic::Ordering::Relaxed)
        {
            let parts: Vec<Result<RawOutput>> = batch.par_chunks(n).map(|face| self.run_network(face)).collect();
            return concatenate(parts, faces, k);
        }
        let tensor =
            Tensor::from_shape(&self.input_shape(faces), batch).map_err(|e| Error::Inference(format!("{e:#}")))?;
        let plan = self.fixed_plan(faces).unwrap_or_else(|| self.plan.clone());
        let outputs = plan
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| Error::Inference(format!("{}: {e:#}", self.path.display())))?;
        let scores = outputs
            .get(self.logits_index)
            .ok_or_else(|| Error::Inference("the model returned no class output".into()))?;
        let scores = scores
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::Inference(format!("class output: {e:#}")))?;
        let scores = scores
            .as_slice()
            .filter(|s| s.len() == faces * k)
            .ok_or_else(|| {
                Error::Inference(format!(
                    "class output has shape {:?}, expected [{faces}, {k}]",
                    scores.shape()
                ))
            })?
            .to_vec();
        let alpha = match self.alpha_index.and_then(|i| outputs.get(i)) {
            Some(a) => {
                let view = a
                    .to_plain_array_view::<f32>()
                    .map_err(|e| Error::Inference(format!("alpha output: {e:#}")))?;
                let values = view.as_slice().filter(|s| s.len() == faces).ok_or_else(|| {
                    Error::Inference(format!(
                        "alpha output has shape {:?}, expected [{faces}, 1]",
                        view.shape()
                    ))
                })?;
                Some(values.to_vec())
            }
            None => None,
        };
        Ok(RawOutput {
            faces,
            classes: k,
            scores,
            alpha,
        })
    }

    /// Classifies a batch of preprocessed faces (`input_len()` floats each, one after another).
    pub fn classify_preprocessed(&self, batch: &[f32]) -> Result<Vec<Prediction>> {
        let raw = self.run(batch)?;
        if raw.faces == 0 {
            return Ok(Vec::new());
        }
        Ok(raw
            .scores
            .chunks_exact(raw.classes)
            .enumerate()
            .map(|(i, row)| {
                let probabilities = match (self.output, &self.balance) {
                    (OutputKind::Logits, None) => softmax(row),
                    (OutputKind::Logits, Some((_, offsets))) => {
                        let adjusted: Vec<f32> = row.iter().zip(offsets).map(|(s, o)| s + o).collect();
                        softmax(&adjusted)
                    }
                    (OutputKind::Probabilities, None) => row.to_vec(),
                    // The same adjustment on probabilities: p * exp(offset), renormalised.
                    (OutputKind::Probabilities, Some((_, offsets))) => {
                        let scaled: Vec<f32> = row.iter().zip(offsets).map(|(p, o)| p * o.exp()).collect();
                        let sum: f32 = scaled.iter().sum();
                        if sum > 0.0 {
                            scaled.iter().map(|p| p / sum).collect()
                        } else {
                            row.to_vec()
                        }
                    }
                };
                let class = argmax(&probabilities);
                let alpha = raw.alpha.as_ref().map(|a| a[i]);
                Prediction {
                    confidence: probabilities[class],
                    probabilities,
                    class,
                    alpha,
                    certainty: alpha.and_then(|a| self.metadata.certainty(a)),
                }
            })
            .collect())
    }
}

/// Grey level of an RGB pixel, as `image`'s `to_luma8` (and so training) computes it.
fn luma([r, g, b]: [u8; 3]) -> u8 {
    let l = (2126 * u32::from(r) + 7152 * u32::from(g) + 722 * u32::from(b) + 5000) / 10000;
    l.min(255) as u8
}

/// Mirrors one preprocessed face (`channels` x `side` x `side` in `layout` order) left to right.
fn mirror(face: &mut [f32], layout: Layout, channels: usize, side: usize) {
    match layout {
        Layout::Nchw => face.chunks_exact_mut(side).for_each(<[f32]>::reverse),
        Layout::Nhwc => {
            for row in face.chunks_exact_mut(side * channels) {
                row.reverse();
                // Reversing the row reversed each pixel's channels too: put them back.
                row.chunks_exact_mut(channels).for_each(<[f32]>::reverse);
            }
        }
    }
}

/// The network's outputs for a batch, before softmax.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOutput {
    /// Faces in the batch.
    pub faces: usize,
    /// Classes per face.
    pub classes: usize,
    /// `[faces, classes]` class scores (logits, or probabilities for models that end in softmax).
    pub scores: Vec<f32>,
    /// `[faces]` attention weights, for models with alpha.
    pub alpha: Option<Vec<f32>>,
}

/// The outputs of consecutive parts of one batch, as one output for its `faces` faces.
fn concatenate(parts: impl IntoIterator<Item = Result<RawOutput>>, faces: usize, classes: usize) -> Result<RawOutput> {
    let mut all = RawOutput {
        faces,
        classes,
        scores: Vec::with_capacity(faces * classes),
        alpha: None,
    };
    for part in parts {
        let part = part?;
        all.scores.extend(part.scores);
        if let Some(a) = part.alpha {
            all.alpha.get_or_insert_with(Vec::new).extend(a);
        }
    }
    Ok(all)
}

/// Softmax of a row of scores.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    scn_train::metrics::tempered_softmax(row, 1.0)
}

pub use scn_train::metrics::argmax;

/// Whether [`set_inference_threads`] switched on multithreaded matrix products (then faces are
/// not classified in parallel, which would panic inside tract).
static MULTITHREADED_PRODUCTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Uses `threads` threads for each inference's matrix products (1: single-threaded).
///
/// Not together with tract calls that already run in parallel on rayon's threads (the face
/// detector's pyramid levels): tract 0.23's matrix-product scratch space is thread-local, and a
/// multithreaded product that picks up another inference on the same thread panics ("RefCell
/// already borrowed").
pub fn set_inference_threads(threads: usize) {
    MULTITHREADED_PRODUCTS.store(threads > 1, std::sync::atomic::Ordering::Relaxed);
    let executor = if threads > 1 {
        tract_linalg::multithread::Executor::multithread(threads)
    } else {
        tract_linalg::multithread::Executor::SingleThread
    };
    tract_linalg::multithread::set_default_executor(executor);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_conversion_matches_the_training_pipeline() {
        let img = RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([(x * 16) as u8, (y * 16) as u8, ((x * y) % 256) as u8])
        });
        let reference = DynamicImage::ImageRgb8(img.clone()).to_luma8();
        for (p, q) in img.pixels().zip(reference.pixels()) {
            assert_eq!(luma(p.0), q.0[0], "{p:?}");
        }
    }

    #[test]
    fn softmax_and_argmax() {
        let p = softmax(&[1.0, 3.0, 2.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&p), 1);
        assert_eq!(argmax(&[0.5, 0.5]), 0);
    }

    #[test]
    fn mirroring_reverses_columns_in_either_layout() {
        // A 2-channel 3x3 face: channel c, row y, column x holds 100c + 10y + x.
        let (c, side) = (2, 3);
        let value = |ch: usize, y: usize, x: usize| (100 * ch + 10 * y + x) as f32;
        let mut nchw: Vec<f32> = (0..c)
            .flat_map(|ch| (0..side).flat_map(move |y| (0..side).map(move |x| value(ch, y, x))))
            .collect();
        let mut nhwc: Vec<f32> = (0..side)
            .flat_map(|y| (0..side).flat_map(move |x| (0..c).map(move |ch| value(ch, y, x))))
            .collect();
        mirror(&mut nchw, Layout::Nchw, c, side);
        mirror(&mut nhwc, Layout::Nhwc, c, side);
        assert_eq!(&nchw[..3], &[2.0, 1.0, 0.0]);
        assert_eq!(&nchw[9..12], &[102.0, 101.0, 100.0]);
        assert_eq!(&nhwc[..6], &[2.0, 102.0, 1.0, 101.0, 0.0, 100.0]);
        assert_eq!(&nhwc[6..8], &[12.0, 112.0]);
    }
}
