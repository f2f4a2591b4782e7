//! The SCN training loop (a custom loop: relabeling changes the label table between steps, which
//! burn's `Learner` has no place for).
//!
//! Each step: forward, split the batch by attention weight, weighted cross-entropy plus rank
//! regularization, relabeling decisions (from `relabel.start_epoch` on), backward, optimizer
//! step. Each epoch: validation, metrics, an atomic checkpoint, the best model. A run resumes
//! from its last checkpoint exactly: the data order and augmentation derive from (seed, epoch,
//! sample), the learning rate from the epoch, and the checkpoint holds model, optimizer state
//! and label table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{
    AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig, momentum::MomentumConfig,
};
use burn::prelude::*;
use burn::tensor::Gradients;
use burn::tensor::activation::softmax;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::checkpoint::{self, Best, RunState};
use crate::config::{Backbone, Difference, OptimizerSettings, TrainConfig};
use crate::data::batch::{self, Augmentation};
use crate::data::input::InputConfig;
use crate::data::noise;
use crate::data::{Dataset, Expression, LabelMode, OpenOptions, RafdbImages, Sample, Split};
use crate::device::{self, DeviceChoice};
use crate::distill::{self, DistillConfig, Teacher, TeacherTargets};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::loss::{self, ImportanceGroups, Targets};
use crate::metadata::FaceTemplate;
use crate::metrics::{self, Confusion, EpochMetrics, Evaluation, METRICS_FILE};
use crate::model::Scn;
use crate::relabel::{self, LabelTable, RelabelMode};

/// Where the data comes from.
#[derive(Debug, Clone)]
pub struct DataSettings {
    /// Dataset folder or file.
    pub path: PathBuf,
    /// How to read it.
    pub open: OpenOptions,
    /// Split to validate on (default: valid, else test).
    pub val_split: Option<Split>,
}

/// A training run.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The data.
    pub data: DataSettings,
    /// The settings (ignored on resume, where the checkpoint's are used).
    pub config: TrainConfig,
    /// Output folder: checkpoints, metrics, plots.
    pub out: PathBuf,
    /// Where to train.
    pub device: DeviceChoice,
    /// Continue from the last checkpoint in `out`.
    pub resume: bool,
    /// Start over in an `out` that holds an earlier run.
    pub force: bool,
    /// With `resume`: raise the number of epochs to this.
    pub resume_epochs: Option<usize>,
    /// The settings (paths as [`TrainConfig::differences`] gives them) the user set for this
    /// call, as opposed to those that came from a preset: on a resume, those whose checkpoint
    /// value differs are reported in [`RunInfo::kept_settings`].
    pub explicit_settings: Vec<String>,
    /// Pretrained backbone weights to start from.
    pub pretrained: Option<crate::weights::Pretrained>,
    /// A trained scn run (its folder, or a checkpoint folder in it) or a model `scn export`
    /// wrote, whose whole network, heads included, this run starts from, with a fresh
    /// optimizer and schedule (a warm restart, or fine-tuning on other data with the same
    /// classes).
    pub init_from: Option<PathBuf>,
    /// A flip record of `scn data noise`: report how many flipped labels relabeling restores.
    pub noise_record: Option<PathBuf>,
    /// Stop each epoch after this many steps (smoke tests and benchmarks).
    pub max_steps: Option<usize>,
    /// Epoch checkpoints kept, the newest ones (0: every epoch's, to export or branch from any
    /// of them later); [`checkpoint::DEFAULT_KEEP`] unless asked otherwise.
    pub keep_checkpoints: usize,
    /// The model to distill from, for a config with `distill` (read before the first epoch; a
    /// resumed run takes the probabilities it kept in its folder).
    pub teacher: Option<std::sync::Arc<dyn Teacher>>,
}

/// The folder holding the model to start from: `source` itself when it has a model file,
/// else its `best/` (a run folder).
fn init_source(source: &Path) -> Result<PathBuf> {
    if source.join(checkpoint::MODEL_FILE).is_file() {
        return Ok(source.to_path_buf());
    }
    let best = checkpoint::best_dir(source);
    if best.join(checkpoint::MODEL_FILE).is_file() {
        return Ok(best);
    }
    Err(Error::Missing {
        path: source.to_path_buf(),
        what: format!(
            "a trained run to start from ({} or best/{})",
            checkpoint::MODEL_FILE,
            checkpoint::MODEL_FILE
        ),
    })
}

/// ", validation 83.44%" for a log line about an earlier model, or nothing when it had no
/// validation.
fn validation_note(accuracy: Option<f64>) -> String {
    accuracy.map_or(String::new(), |a| format!(", validation {:.2}%", a * 100.0))
}

/// Loads the network of an earlier run into `model`, after checking that the run trained the
/// same network. `source` is a run folder, one of its checkpoint folders, or a model `scn
/// export` wrote (see [`crate::import`]). An earlier model of other classes (FERPlus's eight for
/// a FER2013 run, say) gives its backbone and attention head as they are and the classifier
/// weights of the classes both have, matched by name; see [`carry_over_classes`].
fn init_from_run(model: Scn, source: &Path, config: &TrainConfig, classes: &[String]) -> Result<Scn> {
    // The earlier network's settings, its classes, and how to load it (which also says where
    // it came from).
    type Load<'a> = Box<dyn FnOnce(Scn) -> Result<(Scn, String)> + 'a>;
    let (earlier_config, earlier_classes, load): (TrainConfig, Vec<String>, Load) = if source.is_file() {
        let exported = crate::import::ExportedModel::read(source)?;
        let (config, classes) = (exported.config.clone(), exported.metadata.classes.clone());
        let load = Box::new(move |m| {
            let (m, applied) = exported.load_into(m, source)?;
            let validation = validation_note(exported.metadata.validation.as_ref().map(|v| v.accuracy));
            Ok((m, format!("{} ({applied} tensors{validation})", source.display())))
        });
        (config, classes, load)
    } else {
        let dir = init_source(source)?;
        let earlier = checkpoint::read_state(&dir)?;
        let origin = format!(
            "{} (epoch {} of that run{})",
            dir.display(),
            earlier.epoch,
            validation_note(earlier.best.as_ref().map(|b| b.accuracy))
        );
        let load = Box::new(move |m| Ok((checkpoint::load_model(m, &dir.join(checkpoint::MODEL_FILE))?, origin)));
        (earlier.config, earlier.classes, load)
    };
    check_same_network(source, &earlier_config, config)?;
    if earlier_classes == classes {
        let (loaded, origin) = load(model)?;
        log::info!("starting from {origin}");
        return Ok(loaded);
    }
    // Loaded into a network of the earlier model's classes, then carried over to this one.
    let shaped = checkpoint::model_config(config, earlier_classes.len()).init(&model.fc.weight.val().device());
    let (loaded, origin) = load(shaped)?;
    let (model, carried) = carry_over_classes(loaded, &earlier_classes, model, classes);
    let new: Vec<&str> = classes
        .iter()
        .filter(|c| !earlier_classes.contains(c))
        .map(String::as_str)
        .collect();
    log::info!(
        "starting from {origin}: backbone and attention head, and the classifier of {} of this run's {} classes \
         ({}; that model was trained on {})",
        carried.len(),
        classes.len(),
        if new.is_empty() {
            "none is new".to_string()
        } else {
            format!("new, so learned from scratch: {}", new.join(", "))
        },
        earlier_classes.join(", ")
    );
    if carried.is_empty() {
        log::warn!(
            "{} shares no class with this run ({}): only its backbone and attention head carry over",
            source.display(),
            classes.join(", ")
        );
    }
    Ok(model)
}

/// A network for `classes` from `earlier`, trained on `earlier_classes`: its backbone and
/// attention head as they are, its classifier's column (weights and bias) for each class it
/// knows by the same name, and `fresh`'s initial column for the others. Returns the model and
/// the classes carried over.
fn carry_over_classes(earlier: Scn, earlier_classes: &[String], fresh: Scn, classes: &[String]) -> (Scn, Vec<String>) {
    let (old_w, new_w) = (earlier.fc.weight.val(), fresh.fc.weight.val()); // [features, classes]
    let bias = |l: &burn::nn::Linear| l.bias.as_ref().map(|b| b.val());
    let (old_b, new_b) = (bias(&earlier.fc), bias(&fresh.fc));
    let mut columns = Vec::with_capacity(classes.len());
    let mut biases = Vec::with_capacity(classes.len());
    let mut carried = Vec::new();
    for (j, name) in classes.iter().enumerate() {
        let (w, b, at) = match earlier_classes.iter().position(|c| c == name) {
            Some(i) => {
                carried.push(name.clone());
                (&old_w, &old_b, i)
            }
            None => (&new_w, &new_b, j),
        };
        columns.push(w.clone().narrow(1, at, 1));
        if let Some(b) = b {
            biases.push(b.clone().narrow(0, at, 1));
        }
    }
    // Made afresh from their values: a parameter must be a leaf of the autodiff graph.
    fn leaf<const D: usize>(t: Tensor<D>) -> burn::module::Param<Tensor<D>> {
        let device = t.device();
        burn::module::Param::from_tensor(Tensor::from_data(t.into_data(), &device))
    }
    let fc = burn::nn::Linear {
        weight: leaf(Tensor::cat(columns, 1)),
        bias: (!biases.is_empty()).then(|| leaf(Tensor::cat(biases, 0))),
    };
    let model = Scn {
        backbone: earlier.backbone,
        face: earlier.face,
        dropout: fresh.dropout,
        fc,
        alpha: earlier.alpha,
        baseline: fresh.baseline,
    };
    (model, carried)
}

/// Refuses to start from `source`, trained with `a`, when this run (`b`) builds another
/// network.
fn check_same_network(source: &Path, a: &TrainConfig, b: &TrainConfig) -> Result<()> {
    // dlib's network has one size and its own stem: width and stem do not apply to it.
    let same_layers = a.backbone == Backbone::Dlib || (a.width == b.width && a.stem == b.stem);
    let same_network =
        a.backbone == b.backbone && same_layers && a.input.channels == b.input.channels && a.baseline == b.baseline;
    if !same_network {
        return Err(Error::InvalidArgument(format!(
            "{} trained another network ({:?} width {} stem {:?}, {} channel(s){}) than this run's ({:?} width {} stem {:?}, {} channel(s){}): \
             give this run the same settings (--backbone, --width, --stem, --channels, --baseline, or a --config that has them)",
            source.display(),
            a.backbone,
            a.width,
            a.stem,
            a.input.channels,
            if a.baseline { ", baseline" } else { "" },
            b.backbone,
            b.width,
            b.stem,
            b.input.channels,
            if b.baseline { ", baseline" } else { "" },
        )));
    }
    Ok(())
}

/// Facts about a run, given to the observer when it starts.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Device description.
    pub device: String,
    /// Dataset description.
    pub dataset: String,
    /// Class names.
    pub classes: Vec<String>,
    /// Training images.
    pub train_images: usize,
    /// Validation split and its images.
    pub validation: Option<(Split, usize)>,
    /// First epoch to run (after a resume, the one after the checkpoint).
    pub start_epoch: usize,
    /// Last epoch.
    pub epochs: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Model parameters.
    pub parameters: usize,
    /// The plain cross-entropy baseline (no attention weight, rank regularization or relabeling).
    pub baseline: bool,
    /// SCN relabels from some epoch on (false for the baseline and with relabeling off).
    pub relabels: bool,
    /// The epochs done before (a resumed run's history; empty for a new run).
    pub history: Vec<EpochMetrics>,
    /// On a resume, the settings the user gave (`explicit_settings`) that the checkpoint
    /// overrides: `left` is the checkpoint's value, which the run keeps, `right` the one given.
    pub kept_settings: Vec<Difference>,
}

/// Receives progress (the binary draws progress bars from it).
pub trait Observer {
    /// The run starts.
    fn started(&mut self, _info: &RunInfo) {}
    /// An epoch starts.
    fn epoch_started(&mut self, _epoch: usize, _steps: usize) {}
    /// A step finished with this loss.
    fn step(&mut self, _step: usize, _loss: f32) {}
    /// Validation of `images` starts.
    fn validating(&mut self, _images: usize) {}
    /// An epoch finished and was saved.
    fn epoch_finished(&mut self, _metrics: &EpochMetrics, _checkpoint: &Path, _is_best: bool) {}
    /// The best model was evaluated on the test split (once, when training finished).
    fn tested(&mut self, _best_epoch: usize, _test: &Evaluation) {}
}

/// An observer that only logs.
pub struct LogObserver;

impl Observer for LogObserver {
    fn epoch_finished(&mut self, m: &EpochMetrics, _checkpoint: &Path, is_best: bool) {
        let val = m
            .validation
            .as_ref()
            .map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v.accuracy));
        log::info!(
            "epoch {}: loss {:.4} (wce {:.4}, rr {:.4}), train {:.2}%, val {val}{}, relabeled {}",
            m.epoch,
            m.loss,
            m.wce,
            m.rr,
            100.0 * m.train_accuracy,
            if is_best { " (best)" } else { "" },
            m.relabeled
        );
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// All epochs ran.
    Finished,
    /// Stopped by the stop flag; the last checkpoint is the last completed epoch.
    Interrupted,
}

/// The result of [`train`].
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// How it ended.
    pub outcome: Outcome,
    /// Epochs completed (in total, over resumes).
    pub epochs_done: usize,
    /// The best epoch.
    pub best: Option<Best>,
    /// The last epoch's metrics.
    pub last: Option<EpochMetrics>,
    /// The output folder.
    pub out: PathBuf,
    /// The best model's accuracy on the test split, when the dataset has one that was not
    /// used for validation.
    pub test: Option<Evaluation>,
    /// The final label table (for tests and reports).
    #[serde(skip)]
    pub labels: LabelTable,
}

/// Files of an output folder that mark an earlier run.
const RUN_MARKERS: [&str; 3] = ["config.json", "checkpoints", "best"];

fn build_optimizer(settings: &OptimizerSettings) -> ModuleOptimizer {
    match settings {
        OptimizerSettings::Adam {
            weight_decay, epsilon, ..
        } => AdamConfig::new()
            .with_epsilon(*epsilon as f32)
            .with_weight_decay((*weight_decay > 0.0).then(|| WeightDecayConfig::new(*weight_decay as f32)))
            .init(),
        OptimizerSettings::Sgd {
            momentum, weight_decay, ..
        } => SgdConfig::new()
            .with_momentum(
                (*momentum > 0.0).then(|| MomentumConfig::new().with_momentum(*momentum).with_dampening(0.0)),
            )
            .with_weight_decay((*weight_decay > 0.0).then(|| WeightDecayConfig::new(*weight_decay as f32)))
            .init(),
    }
}

/// One optimizer step: the backbone's parameters at `lr * backbone_lr_scale` (none at 0), the
/// heads' at `lr`. Two steps of the same optimizer over disjoint parameters: its state is kept
/// per parameter, so each keeps its own moments.
fn apply_gradients(
    model: Scn,
    optimizer: &mut ModuleOptimizer,
    mut grads: Gradients,
    lr: f64,
    backbone_lr_scale: f64,
) -> Scn {
    if backbone_lr_scale == 1.0 {
        let all = GradientsParams::from_grads(grads, &model);
        return optimizer.step(lr, model, all);
    }
    // Taking the backbone's gradients out leaves only the heads' in `grads`.
    let backbone = match (&model.face, &model.backbone) {
        (Some(face), _) => GradientsParams::from_module(&mut grads, face),
        (None, Some(resnet)) => GradientsParams::from_module(&mut grads, resnet),
        (None, None) => GradientsParams::new(),
    };
    let heads = GradientsParams::from_grads(grads, &model);
    let model = if backbone_lr_scale > 0.0 {
        optimizer.step(lr * backbone_lr_scale, model, backbone)
    } else {
        model
    };
    optimizer.step(lr, model, heads)
}

/// What the log says about `backbone_lr_scale` at the start of a run: nothing at 1 (one rate
/// for all), else the backbone's rate against the heads'.
fn backbone_rate_note(config: &TrainConfig) -> Option<String> {
    let (scale, lr) = (config.backbone_lr_scale, config.optimizer.lr());
    if scale == 1.0 {
        None
    } else if scale == 0.0 {
        Some(format!(
            "the backbone stays as loaded (backbone_lr_scale 0); the heads learn at {lr:.2e}"
        ))
    } else {
        Some(format!(
            "the backbone learns at {scale} of the rate ({:.2e} at the start), the heads at {lr:.2e}",
            lr * scale
        ))
    }
}

/// Picks the validation split.
fn validation_split(dataset: &Dataset, wanted: Option<Split>) -> Result<Option<Split>> {
    match wanted {
        Some(split) => match dataset.split(split) {
            Some(s) if !s.samples.is_empty() => Ok(Some(split)),
            _ => Err(Error::InvalidArgument(format!(
                "the dataset has no {split} split to validate on"
            ))),
        },
        None => {
            if dataset.split(Split::Valid).is_some_and(|s| !s.samples.is_empty()) {
                Ok(Some(Split::Valid))
            } else if dataset.split(Split::Test).is_some_and(|s| !s.samples.is_empty()) {
                log::warn!(
                    "the dataset has no validation split: validating (and picking the best epoch) on its test split"
                );
                Ok(Some(Split::Test))
            } else {
                log::warn!("the dataset has no validation or test split: no validation");
                Ok(None)
            }
        }
    }
}

/// A key that identifies a sample's image across a label file and the dataset.
fn sample_key(sample: &Sample) -> String {
    match &sample.image {
        crate::data::ImageRef::File(path) => image_key(&path.file_name().unwrap_or_default().to_string_lossy()),
        crate::data::ImageRef::Stored { .. } => {
            let location = sample.image.location();
            format!("line {}", location.rsplit(':').next().unwrap_or_default())
        }
    }
}

fn image_key(name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    stem.strip_suffix("_aligned").unwrap_or(stem).to_string()
}

/// The flipped training samples of a noise record: (index, clean class).
fn flipped_samples(record: &Path, samples: &[Sample], classes: &crate::data::ClassList) -> Result<Vec<(usize, usize)>> {
    let flips = noise::read_record(record)?;
    let by_key: HashMap<String, usize> = samples.iter().map(|s| (sample_key(s), s.index)).collect();
    let mut out = Vec::new();
    let mut missing = 0;
    for flip in flips {
        let key = if flip.image.starts_with("line ") {
            flip.image.clone()
        } else {
            image_key(&flip.image)
        };
        let clean = Expression::parse(&flip.original_class).and_then(|e| classes.index_of(e));
        match (by_key.get(&key), clean) {
            (Some(&index), Some(clean)) => out.push((index, clean)),
            _ => missing += 1,
        }
    }
    if missing > 0 {
        log::warn!(
            "{}: {missing} flipped labels do not match a training sample",
            record.display()
        );
    }
    Ok(out)
}

/// The labels (and soft targets) of a batch. With a teacher (its targets and weight) each
/// target becomes `(1 - weight) * target + weight * teacher`; with `smoothing` > 0 the targets
/// are then `(1 - smoothing) * target + smoothing / num_classes`. Either makes the targets soft
/// in every label mode.
#[allow(clippy::too_many_arguments)] // one call site; each argument is a distinct input
fn batch_targets(
    indices: &[usize],
    samples: &[Sample],
    table: &LabelTable,
    mode: LabelMode,
    teacher: Option<(&TeacherTargets, f32)>,
    smoothing: f64,
    seed: u64,
    epoch: usize,
    num_classes: usize,
    device: &Device,
) -> (Vec<usize>, Targets) {
    let mut hard = Vec::with_capacity(indices.len());
    let mut soft: Vec<f32> = Vec::new();
    for &i in indices {
        let relabeled = table.current[i] != table.original[i];
        let dist = samples[i].label.distribution.as_ref().filter(|_| !relabeled);
        let label = match (mode, dist) {
            (LabelMode::Probability, Some(d)) => {
                // Probabilistic label drawing: one class from the vote distribution per epoch.
                let mut rng = ChaCha8Rng::seed_from_u64(batch::mix(seed ^ 0x5C4, epoch as u64, i as u64));
                let u: f32 = rng.random();
                let mut acc = 0.0;
                d.iter()
                    .position(|&p| {
                        acc += p;
                        u < acc
                    })
                    .unwrap_or(table.current[i])
            }
            _ => table.current[i],
        };
        hard.push(label);
        if mode == LabelMode::Crossentropy {
            match dist {
                Some(d) => soft.extend_from_slice(d),
                None => soft.extend((0..num_classes).map(|c| if c == label { 1.0 } else { 0.0 })),
            }
        }
    }
    if (smoothing > 0.0 || teacher.is_some()) && mode != LabelMode::Crossentropy {
        soft = hard
            .iter()
            .flat_map(|&label| (0..num_classes).map(move |c| if c == label { 1.0 } else { 0.0 }))
            .collect();
    }
    if let Some((targets, weight)) = teacher {
        for (&i, row) in indices.iter().zip(soft.chunks_exact_mut(num_classes)) {
            targets.mix_into(i, weight, row);
        }
    }
    let targets = if !soft.is_empty() {
        let (keep, spread) = ((1.0 - smoothing) as f32, (smoothing / num_classes as f64) as f32);
        if smoothing > 0.0 {
            soft.iter_mut().for_each(|t| *t = keep * *t + spread);
        }
        Targets::Soft(Tensor::from_data(
            TensorData::new(soft, [indices.len(), num_classes]),
            device,
        ))
    } else {
        let ints: Vec<i64> = hard.iter().map(|&c| c as i64).collect();
        Targets::Hard(Tensor::from_data(TensorData::new(ints, [indices.len()]), device))
    };
    (hard, targets)
}

fn tensor_values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

/// Evaluates `model` (in validation mode) on `samples`.
pub fn evaluate(
    model: &Scn,
    samples: &[Sample],
    input: &InputConfig,
    batch_size: usize,
    num_classes: usize,
    device: &Device,
) -> Evaluation {
    let mut confusion = Confusion::new(num_classes);
    let mut alphas = Vec::with_capacity(samples.len());
    let mut loss_sum = 0.0;
    let order: Vec<usize> = (0..samples.len()).collect();
    for chunk in order.chunks(batch_size.max(1)) {
        let b = batch::load(samples, chunk, input, None);
        for (index, reason) in &b.failed {
            log::warn!("skipping validation image {index}: {reason}");
        }
        if b.indices.is_empty() {
            continue;
        }
        let n = b.indices.len();
        let images = Tensor::<4>::from_data(TensorData::new(b.images, b.shape), device);
        let out = model.forward(images);
        let logits = tensor_values(out.logits);
        alphas.extend(tensor_values(out.alpha));
        for (row, &index) in b.indices.iter().enumerate() {
            let r = &logits[row * num_classes..(row + 1) * num_classes];
            let truth = samples[index].label.class;
            confusion.add(truth, metrics::argmax(r));
            let max = r.iter().copied().fold(f32::MIN, f32::max);
            let log_sum = r.iter().map(|v| (v - max).exp()).sum::<f32>().ln() + max;
            loss_sum += f64::from(log_sum - r[truth.min(num_classes - 1)]);
        }
        let _ = n;
    }
    let images = confusion.total() as usize;
    Evaluation {
        images,
        loss: if images > 0 { loss_sum / images as f64 } else { 0.0 },
        accuracy: confusion.accuracy(),
        mean_class_accuracy: confusion.mean_class_accuracy(),
        per_class: confusion.per_class(),
        alpha_percentiles: metrics::percentiles(&alphas, (0..=100).map(f64::from)),
        confusion,
    }
}

/// Refuses an output folder that holds an earlier run unless `resume` or `force` says what to do
/// with it. Changes nothing; the trainer checks again before it writes, so a caller may ask
/// early (before loading a teacher, say) to fail fast.
pub fn refuse_earlier_run(out: &Path, resume: bool, force: bool) -> Result<()> {
    let earlier = RUN_MARKERS.iter().any(|m| out.join(m).exists());
    if earlier && !resume && !force {
        return Err(Error::InvalidArgument(format!(
            "{} holds an earlier run: --resume continues it, --force starts over",
            out.display()
        )));
    }
    Ok(())
}

/// Removes what a run wrote into `out` (its settings, checkpoints, best model and metrics).
fn remove_run(out: &Path) -> Result<()> {
    for m in RUN_MARKERS.iter().chain(&[METRICS_FILE]) {
        let p = out.join(m);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).at(&p)?;
        } else if p.is_file() {
            std::fs::remove_file(&p).at(&p)?;
        }
    }
    Ok(())
}

/// `--resume` of a run that stopped before its first checkpoint: nothing was saved but its
/// settings, so it starts over from epoch 1, provided this command gives the same settings as
/// the run's `config.json` (the total of epochs may differ).
fn start_over_unsaved(out: &Path, config: &TrainConfig) -> Result<()> {
    let saved_path = out.join("config.json");
    if saved_path.is_file() {
        let mut saved = TrainConfig::load(&saved_path)?;
        saved.epochs = config.epochs;
        if &saved != config {
            let differing: Vec<String> = saved
                .differences(config)
                .into_iter()
                .map(|d| format!("{} {} there, {} here", d.path, d.left, d.right))
                .collect();
            return Err(Error::InvalidArgument(format!(
                "{} stopped before its first checkpoint with other settings than these ({}: {}): give the run's \
                 settings again to start it over, or --force to start over with these",
                out.display(),
                saved_path.display(),
                differing.join(", ")
            )));
        }
    }
    log::warn!(
        "{} has no checkpoint yet (the run stopped in its first epoch): starting it over from epoch 1",
        out.display()
    );
    remove_run(out)
}

/// Writes `metrics.jsonl` from the history.
fn write_metrics(out: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut text = String::new();
    for m in history {
        text.push_str(&serde_json::to_string(m).unwrap_or_default());
        text.push('\n');
    }
    fsutil::write_bytes(&out.join(METRICS_FILE), text.as_bytes())
}

/// A run made ready by [`prepare`]: the data, the settings, and the state to continue from.
struct Run<'d> {
    out: PathBuf,
    config: TrainConfig,
    /// The training split's samples.
    samples: &'d [Sample],
    /// The validation split's samples (empty: no validation).
    val_samples: &'d [Sample],
    /// The test split's samples, when it is not the validation split.
    test_samples: &'d [Sample],
    num_classes: usize,
    label_mode: LabelMode,
    strict: bool,
    device: Device,
    ad_device: Device,
    /// Steps per epoch (the full epoch unless `max_steps` cuts it).
    steps: usize,
    state: RunState,
    /// The flipped samples of a noise record: (index, clean class).
    flipped: Option<Vec<(usize, usize)>>,
    /// The checkpoint of the last completed epoch.
    last_checkpoint: Option<PathBuf>,
    /// Epoch checkpoints kept (0: all).
    keep_checkpoints: usize,
    /// The teacher's probabilities for the training images and their weight in the targets.
    teacher: Option<(TeacherTargets, f32)>,
}

/// Trains SCN, or resumes a run. `stop` ends the run after the current step (the last checkpoint
/// is kept).
pub fn train(options: &TrainOptions, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<TrainSummary> {
    let dataset = open_dataset(options)?;
    let (mut run, mut model, mut optimizer, info) = prepare(options, &dataset)?;
    observer.started(&info);
    let mut outcome = Outcome::Finished;
    for epoch in run.state.epoch + 1..=run.config.epochs {
        let Some((trained, stats)) = run.train_epoch(model, &mut optimizer, epoch, observer, stop)? else {
            outcome = Outcome::Interrupted;
            break;
        };
        model = trained;
        run.finish_epoch(&model, &optimizer, stats, observer)?;
    }
    let test = if outcome == Outcome::Finished && run.state.epoch >= run.config.epochs && !run.test_samples.is_empty() {
        test_best(
            &run.out,
            run.test_samples,
            &run.config.input,
            run.num_classes,
            &run.device,
            observer,
        )?
    } else {
        None
    };
    Ok(TrainSummary {
        outcome,
        epochs_done: run.state.epoch,
        best: run.state.best.clone(),
        last: run.state.history.last().cloned(),
        out: run.out,
        test,
        labels: run.state.labels,
    })
}

/// Opens the dataset and logs what was skipped in it.
fn open_dataset(options: &TrainOptions) -> Result<Dataset> {
    let dataset = Dataset::open(&options.data.path, &options.data.open)?;
    if !dataset.issues.is_empty() {
        log::warn!(
            "{} problem(s) in the dataset; those items are skipped (`scn data check` lists them), e.g. {}",
            dataset.issues.len(),
            dataset.issues[0]
        );
    }
    Ok(dataset)
}

/// The settings in `explicit` (or inside them, or holding them) whose value in `kept` differs
/// from the one in `given`.
fn kept_settings(kept: &TrainConfig, given: &TrainConfig, explicit: &[String]) -> Vec<Difference> {
    let within = |inner: &str, outer: &str| {
        inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('.'))
    };
    kept.differences(given)
        .into_iter()
        .filter(|d| explicit.iter().any(|e| within(&d.path, e) || within(e, &d.path)))
        .collect()
}

/// Everything before the first epoch: the output folder, the settings (the checkpoint's on a
/// resume), the splits, the device, and the model, optimizer and run state, fresh, resumed,
/// started from an earlier run or from pretrained weights.
fn prepare<'d>(options: &TrainOptions, dataset: &'d Dataset) -> Result<(Run<'d>, Scn, ModuleOptimizer, RunInfo)> {
    let out = options.out.clone();
    // With --force the earlier run is removed only once the new one's model is built and its
    // weights loaded, so a wrong --init-from or --pretrained file loses nothing.
    refuse_earlier_run(&out, options.resume, options.force)?;
    let resume_from = if options.resume {
        let latest = checkpoint::latest(&out)?;
        match &latest {
            Some(_) => {
                if options.init_from.is_some() || options.pretrained.is_some() {
                    log::info!(
                        "resuming: the checkpoint holds the network, the weights to start from are not read again"
                    );
                }
            }
            None => start_over_unsaved(&out, &options.config)?,
        }
        latest
    } else {
        None
    };
    let resumed_state = match &resume_from {
        Some(dir) => Some(checkpoint::read_state(dir)?),
        None => None,
    };
    let mut config = match &resumed_state {
        Some(state) => state.config.clone(),
        None => options.config.clone(),
    };
    if let Some(epochs) = options.resume_epochs {
        config.epochs = config.epochs.max(epochs);
    }
    config.validate().map_err(Error::InvalidArgument)?;
    let kept_settings = if resumed_state.is_some() {
        kept_settings(&config, &options.config, &options.explicit_settings)
    } else {
        Vec::new()
    };

    let samples: &[Sample] = &dataset
        .split(Split::Train)
        .filter(|s| !s.samples.is_empty())
        .ok_or_else(|| Error::Empty {
            path: options.data.path.clone(),
            what: "training images".into(),
        })?
        .samples;
    let num_classes = dataset.classes.len();
    let class_names: Vec<String> = dataset.classes.names().iter().map(|s| s.to_string()).collect();
    let val_split = validation_split(dataset, options.data.val_split)?;
    let val_samples: &[Sample] = val_split.and_then(|s| dataset.split(s)).map_or(&[], |s| &s.samples);
    let test_samples: &[Sample] = match (val_split, dataset.split(Split::Test)) {
        (Some(Split::Test), _) | (_, None) => &[],
        (_, Some(test)) => &test.samples,
    };
    if let Some(state) = &resumed_state
        && (state.classes != class_names || state.train_samples != samples.len())
    {
        return Err(Error::InvalidArgument(format!(
            "the checkpoint was trained on {} images of {} classes ({}), this dataset has {} of {}: resume with the same data",
            state.train_samples,
            state.classes.len(),
            state.dataset,
            samples.len(),
            num_classes
        )));
    }

    let selected = device::select(options.device)?;
    let device = selected.device.clone();
    let ad_device = device.clone().autodiff();
    device.seed(config.seed);
    let mut model: Scn = checkpoint::model_config(&config, num_classes).init(&ad_device);
    let parameters = model.num_params();
    // Model, two Adam moments, times (two kept checkpoints + one being written + best).
    let needed = parameters as u64 * 4 * 3 * 4 + (64 << 20);
    fsutil::ensure_writable(&out, needed)?;

    let mut optimizer = build_optimizer(&config.optimizer);
    let state = match (resumed_state, &resume_from) {
        (Some(mut state), Some(dir)) => {
            model = checkpoint::load_model(model, &dir.join(checkpoint::MODEL_FILE))?;
            // burn materializes the optimizer state on its default device (wgpu where it is
            // compiled in), whose drivers may print to stderr; the state moves to the model's
            // device on the next step.
            optimizer = device::quiet_native_stderr(|| checkpoint::load_optimizer(optimizer, dir))?;
            state.config = config.clone();
            log::info!("resuming from {} (epoch {} done)", dir.display(), state.epoch);
            restore_missing_best(&out, &model, &state)?;
            // A run killed between its checkpoint and metrics.jsonl left the file an epoch
            // behind; the checkpoint's history is the record.
            write_metrics(&out, &state.history)?;
            state
        }
        _ => {
            if let Some(source) = &options.init_from {
                model = init_from_run(model, source, &config, &class_names)?;
            }
            if let Some(pretrained) = &options.pretrained {
                let (loaded, report) = crate::weights::load_pretrained(model, pretrained, &ad_device)?;
                model = loaded;
                log::info!("{}", report.summary());
            }
            RunState {
                format_version: checkpoint::FORMAT_VERSION,
                epoch: 0,
                config: config.clone(),
                classes: class_names.clone(),
                dataset: format!("{} at {}", dataset.description, dataset.root.display()),
                train_samples: samples.len(),
                labels: LabelTable::new(samples.iter().map(|s| s.label.class).collect()),
                history: Vec::new(),
                best: None,
                device: selected.description.clone(),
                validation_split: val_split.map(|s| s.name().to_string()),
                test: None,
                started_from: options.init_from.as_ref().map(|p| p.display().to_string()),
                face_template: FaceTemplate::for_dataset(
                    dataset.format,
                    options.data.open.rafdb_images == RafdbImages::Aligned,
                ),
            }
        }
    };
    if options.force && !options.resume {
        remove_run(&out)?;
    }
    let config_json = serde_json::to_vec_pretty(&config).unwrap_or_default();
    fsutil::write_bytes(&out.join("config.json"), &config_json)?;
    let teacher = match &config.distill {
        Some(settings) => {
            let targets = teacher_targets(
                options,
                &out,
                settings,
                samples,
                &dataset.classes,
                resume_from.is_some(),
            )?;
            Some((targets, settings.weight as f32))
        }
        None => {
            if options.teacher.is_some() {
                log::warn!("the run's settings distill from no teacher: the teacher given is not used");
            }
            None
        }
    };

    if let Some(note) = backbone_rate_note(&config) {
        log::info!("{note}");
    }
    let flipped = match &options.noise_record {
        Some(record) => Some(flipped_samples(record, samples, &dataset.classes)?),
        None => None,
    };
    let steps_full = batch::batches(&(0..samples.len()).collect::<Vec<_>>(), config.batch_size).len();
    let steps = options.max_steps.map_or(steps_full, |m| m.min(steps_full));
    let info = RunInfo {
        device: selected.description.clone(),
        dataset: state.dataset.clone(),
        classes: class_names,
        train_images: samples.len(),
        validation: val_split.map(|s| (s, val_samples.len())),
        start_epoch: state.epoch + 1,
        epochs: config.epochs,
        steps,
        parameters,
        baseline: config.baseline,
        relabels: !config.baseline && config.relabel.is_some(),
        history: state.history.clone(),
        kept_settings,
    };
    let run = Run {
        out,
        config,
        samples,
        val_samples,
        test_samples,
        num_classes,
        label_mode: options.data.open.label_mode,
        strict: options.data.open.strict,
        device,
        ad_device,
        steps,
        state,
        flipped,
        last_checkpoint: resume_from,
        keep_checkpoints: options.keep_checkpoints,
        teacher,
    };
    Ok((run, model, optimizer, info))
}

/// The teacher's probabilities for the training images: those a resumed run kept in its folder,
/// else the teacher's (kept there for the next resume).
fn teacher_targets(
    options: &TrainOptions,
    out: &Path,
    settings: &DistillConfig,
    samples: &[Sample],
    classes: &crate::data::ClassList,
    resuming: bool,
) -> Result<TeacherTargets> {
    let path = out.join(distill::TEACHER_FILE);
    if resuming && path.is_file() {
        if options.teacher.is_some() {
            log::info!("resuming: the teacher's probabilities are read from {}", path.display());
        }
        return TeacherTargets::load(&path, samples.len(), classes.len());
    }
    let Some(teacher) = &options.teacher else {
        return Err(Error::InvalidArgument(format!(
            "the settings distill from {}: give the teacher (--distill FILE, once for each model)",
            settings.teacher
        )));
    };
    log::info!(
        "distilling from {}, weight {}, temperature {}: the teacher classifies the {} training images",
        teacher.describe(),
        settings.weight,
        settings.temperature,
        samples.len()
    );
    let values = teacher.probabilities(samples, classes, settings.temperature)?;
    let targets = TeacherTargets::new(values, samples.len(), classes.len())?;
    targets.save(&path)?;
    Ok(targets)
}

/// What one step measured.
struct StepStats {
    /// Images in the batch.
    images: usize,
    loss: f32,
    wce: f32,
    rr: f32,
    /// Images whose prediction matched their (current) label.
    correct: usize,
    /// Labels relabeling changed.
    relabeled: usize,
    /// The batch's samples (indices into the training set).
    indices: Vec<usize>,
    /// Attention weight of each image.
    alphas: Vec<f32>,
    /// The class each image was answered with (the highest probability).
    answers: Vec<usize>,
    /// The importance groups (indices into `alphas`).
    groups: ImportanceGroups,
}

/// Sums an epoch's steps into its [`EpochMetrics`].
#[derive(Default)]
struct EpochAccumulator {
    /// Loss, WCE and RR, weighted by images.
    sums: (f64, f64, f64),
    seen: usize,
    correct: usize,
    skipped: usize,
    relabeled: usize,
    high: (f64, usize),
    low: (f64, usize),
    alphas: Vec<f32>,
    /// Each image's sample index, attention weight and whether it fell in its batch's
    /// low-importance group (kept only for a noise record's statistics).
    weighted: Option<Vec<(usize, f32, bool)>>,
    /// With a noise record: each image's sample index and the class it was answered with.
    answers: Option<Vec<(usize, usize)>>,
}

impl EpochAccumulator {
    fn add(&mut self, step: &StepStats) {
        let w = step.images as f64;
        self.sums.0 += f64::from(step.loss) * w;
        self.sums.1 += f64::from(step.wce) * w;
        self.sums.2 += f64::from(step.rr) * w;
        self.seen += step.images;
        self.correct += step.correct;
        self.relabeled += step.relabeled;
        if !step.groups.low.is_empty() {
            let sum = |group: &[usize]| group.iter().map(|&i| f64::from(step.alphas[i])).sum::<f64>();
            self.high.0 += sum(&step.groups.high);
            self.high.1 += step.groups.high.len();
            self.low.0 += sum(&step.groups.low);
            self.low.1 += step.groups.low.len();
        }
        self.alphas.extend_from_slice(&step.alphas);
        if let Some(weighted) = &mut self.weighted {
            let low = step.groups.low_mask(step.alphas.len());
            weighted.extend(
                step.indices
                    .iter()
                    .zip(&step.alphas)
                    .zip(low)
                    .map(|((&i, &a), l)| (i, a, l)),
            );
        }
        if let Some(answers) = &mut self.answers {
            answers.extend(step.indices.iter().copied().zip(step.answers.iter().copied()));
        }
    }

    /// The epoch's metrics, before validation.
    fn finish(self, epoch: usize, lr: f64, train_seconds: f64) -> EpochMetrics {
        let ratio = |sum: f64, n: usize| if n > 0 { sum / n as f64 } else { 0.0 };
        EpochMetrics {
            epoch,
            lr,
            loss: ratio(self.sums.0, self.seen),
            wce: ratio(self.sums.1, self.seen),
            rr: ratio(self.sums.2, self.seen),
            train_accuracy: ratio(self.correct as f64, self.seen),
            alpha_high: ratio(self.high.0, self.high.1),
            alpha_low: ratio(self.low.0, self.low.1),
            alpha_histogram: metrics::histogram(&self.alphas),
            relabeled: self.relabeled,
            relabeled_total: 0,
            relabeled_to: Vec::new(),
            noise_restored: None,
            noise_flipped: None,
            noise_wrong: None,
            noise_attention: None,
            noise_fit: None,
            skipped_images: self.skipped,
            images_per_second: if train_seconds > 0.0 {
                self.seen as f64 / train_seconds
            } else {
                0.0
            },
            seconds: 0.0,
            validation: None,
        }
    }
}

/// What the epoch's steps need besides the batch.
struct EpochPlan<'c> {
    epoch: usize,
    lr: f64,
    /// Relabeling, when it is on this epoch.
    relabel: Option<&'c crate::relabel::RelabelConfig>,
    /// The class shares of the dataset's own labels, for relabeling with prior correction.
    priors: Option<Vec<f64>>,
}

/// A trained epoch, before validation.
struct EpochStats {
    /// Its metrics so far (the epoch number among them).
    metrics: EpochMetrics,
    started: Instant,
}

impl Run<'_> {
    /// Trains one epoch; `None` when the stop flag ended it early (nothing of it is kept).
    fn train_epoch(
        &mut self,
        model: Scn,
        optimizer: &mut ModuleOptimizer,
        epoch: usize,
        observer: &mut dyn Observer,
        stop: &AtomicBool,
    ) -> Result<Option<(Scn, EpochStats)>> {
        let started = Instant::now();
        let config = self.config.clone();
        let relabel = (!config.baseline)
            .then_some(config.relabel.as_ref())
            .flatten()
            .filter(|r| epoch >= r.start_epoch);
        let plan = EpochPlan {
            epoch,
            lr: config.schedule.lr(config.optimizer.lr(), epoch, config.epochs),
            relabel,
            // Shares of the labels in use, so a class that gains relabels loses weight.
            priors: relabel
                .filter(|r| r.prior_correction)
                .map(|_| relabel::class_priors(&self.state.labels.current, self.num_classes)),
        };
        self.device.seed(batch::mix(config.seed, epoch as u64, 0));
        let order = batch::epoch_order(self.samples.len(), config.seed, epoch);
        let batch_list: Vec<&[usize]> = batch::batches(&order, config.batch_size)
            .into_iter()
            .take(self.steps)
            .collect();
        observer.epoch_started(epoch, batch_list.len());
        let augment = config.augment.as_ref().map(|settings| Augmentation {
            config: settings,
            seed: config.seed,
            epoch,
        });
        let samples = self.samples;
        let input = &config.input;
        // The noise statistics need every image's weight (the baseline's are all 1) and which
        // labels are wrong as the epoch starts.
        let wrong_mask = self
            .flipped
            .as_ref()
            .filter(|_| !config.baseline)
            .map(|flipped| self.state.labels.wrong_mask(flipped));
        let mut accumulator = EpochAccumulator {
            alphas: Vec::with_capacity(samples.len()),
            weighted: wrong_mask.as_ref().map(|_| Vec::with_capacity(samples.len())),
            answers: self.flipped.as_ref().map(|_| Vec::with_capacity(samples.len())),
            ..EpochAccumulator::default()
        };
        let trained = std::thread::scope(|scope| -> Result<Option<Scn>> {
            let mut model = model;
            // Decode the next batches while the current one trains.
            let (tx, rx) = std::sync::mpsc::sync_channel(2);
            let lists = batch_list.clone();
            scope.spawn(move || {
                for list in lists {
                    if tx.send(batch::load(samples, list, input, augment)).is_err() {
                        break;
                    }
                }
            });
            for (step, b) in rx.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                accumulator.skipped += self.report_failed(&b)?;
                if b.indices.len() < 2 {
                    continue;
                }
                let (trained, stats) = self.step(model, optimizer, b, &plan, step)?;
                model = trained;
                accumulator.add(&stats);
                observer.step(step + 1, stats.loss);
            }
            Ok(Some(model))
        })?;
        Ok(trained.map(|model| {
            let attention = match (&accumulator.weighted, &wrong_mask) {
                (Some(weighted), Some(mask)) => metrics::noise_attention(weighted, mask),
                _ => None,
            };
            let fit = match (&accumulator.answers, &self.flipped) {
                (Some(answers), Some(flipped)) => metrics::noise_fit(answers, &self.state.labels.original, flipped),
                _ => None,
            };
            let mut metrics = accumulator.finish(epoch, plan.lr, started.elapsed().as_secs_f64());
            metrics.noise_attention = attention;
            metrics.noise_fit = fit;
            (model, EpochStats { metrics, started })
        }))
    }

    /// Reports the images of a batch that did not decode (an error with `--strict`); returns
    /// how many.
    fn report_failed(&self, batch: &batch::Batch) -> Result<usize> {
        for (index, reason) in &batch.failed {
            if self.strict {
                return Err(Error::Strict(crate::data::Issue {
                    kind: crate::data::IssueKind::CorruptImage,
                    location: reason.clone(),
                    detail: format!("training image {index} does not decode"),
                }));
            }
            log::warn!("skipping training image: {reason}");
        }
        Ok(batch.failed.len())
    }

    /// One step: forward, SCN's losses, relabeling decisions, backward, optimizer step.
    fn step(
        &mut self,
        model: Scn,
        optimizer: &mut ModuleOptimizer,
        b: batch::Batch,
        plan: &EpochPlan<'_>,
        step: usize,
    ) -> Result<(Scn, StepStats)> {
        let (config, num_classes, n) = (&self.config, self.num_classes, b.indices.len());
        let images = Tensor::<4>::from_data(TensorData::new(b.images, b.shape), &self.ad_device);
        let (labels, targets) = batch_targets(
            &b.indices,
            self.samples,
            &self.state.labels,
            self.label_mode,
            self.teacher.as_ref().map(|(t, w)| (t, *w)),
            config.label_smoothing,
            config.seed,
            plan.epoch,
            num_classes,
            &self.ad_device,
        );
        let output = model.forward(images); // logits [B, classes], alpha [B, 1]
        let alphas = tensor_values(output.alpha.clone().detach());
        let groups = ImportanceGroups::split(&alphas, config.beta);
        let wce = loss::cross_entropy(output.logits.clone(), &targets);
        let rr = if config.baseline {
            Tensor::zeros([1], &self.ad_device)
        } else {
            loss::rank_regularization(output.alpha.clone(), &groups, config.margin_1)
        };
        let total = loss::combine(wce.clone(), rr.clone(), config.loss_weighting);
        let loss_value = total.clone().into_scalar::<f32>();
        if !loss_value.is_finite() {
            return Err(Error::Diverged {
                epoch: plan.epoch,
                step: step + 1,
                value: loss_value,
                checkpoint: self.last_checkpoint.clone(),
            });
        }
        let probs = tensor_values(softmax(output.logits.clone().detach(), 1));
        let answers: Vec<usize> = probs.chunks(num_classes).map(metrics::argmax).collect();
        let correct = labels
            .iter()
            .zip(&answers)
            .filter(|(label, answer)| label == answer)
            .count();
        let mut relabeled = 0;
        if let Some(r) = plan.relabel {
            let candidates = match r.mode {
                RelabelMode::Paper => groups.low_mask(n),
                RelabelMode::Official => vec![true; n],
            };
            let current: Vec<usize> = b.indices.iter().map(|&i| self.state.labels.current[i]).collect();
            let decisions = relabel::decide(
                &probs,
                num_classes,
                &current,
                &candidates,
                r.margin_2,
                plan.priors.as_deref(),
            );
            relabeled = self.state.labels.apply(&b.indices, &decisions);
        }
        let model = apply_gradients(model, optimizer, total.backward(), plan.lr, config.backbone_lr_scale);
        let stats = StepStats {
            images: n,
            loss: loss_value,
            wce: wce.into_scalar::<f32>(),
            rr: rr.into_scalar::<f32>(),
            correct,
            relabeled,
            indices: b.indices,
            alphas,
            answers,
            groups,
        };
        Ok((model, stats))
    }

    /// Validates a trained epoch, completes its metrics, and saves the checkpoint, the best
    /// model and metrics.jsonl.
    fn finish_epoch(
        &mut self,
        model: &Scn,
        optimizer: &ModuleOptimizer,
        stats: EpochStats,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        let EpochStats { mut metrics, started } = stats;
        let epoch = metrics.epoch;
        observer.validating(self.val_samples.len());
        metrics.validation = (!self.val_samples.is_empty()).then(|| {
            evaluate(
                &model.valid(),
                self.val_samples,
                &self.config.input,
                self.config.batch_size.max(64),
                self.num_classes,
                &self.device,
            )
        });
        let labels = &self.state.labels;
        metrics.relabeled_total = labels.relabeled();
        metrics.relabeled_to = labels.relabeled_to(self.num_classes);
        metrics.noise_restored = self.flipped.as_ref().map(|f| labels.restored(f));
        metrics.noise_flipped = self.flipped.as_ref().map(Vec::len);
        metrics.noise_wrong = self.flipped.as_ref().map(|f| labels.wrong(f));
        metrics.seconds = started.elapsed().as_secs_f64();

        let state = &mut self.state;
        state.epoch = epoch;
        let accuracy = metrics.validation.as_ref().map(|v| v.accuracy);
        let is_best = match (accuracy, &state.best) {
            (Some(acc), Some(best)) => acc > best.accuracy,
            (Some(_), None) => true,
            (None, _) => true,
        };
        if is_best {
            state.best = Some(Best {
                epoch,
                accuracy: accuracy.unwrap_or(metrics.train_accuracy),
            });
        }
        state.history.push(metrics.clone());
        // The best model first: a checkpoint that names epoch N the best must never exist
        // without best/ holding epoch N (a kill between the two writes, resumed, would leave no
        // best model when no later epoch beats it). Killed after best/ but before the
        // checkpoint, the resumed run redoes this epoch exactly and writes the same best/.
        if is_best {
            checkpoint::save_best(&self.out, model, state)?;
        }
        let dir = checkpoint::save(&self.out, model, optimizer, state, self.keep_checkpoints)?;
        write_metrics(&self.out, &state.history)?;
        self.last_checkpoint = Some(dir.clone());
        observer.epoch_finished(&metrics, &dir, is_best);
        Ok(())
    }
}

/// Runs written before best/ was saved ahead of its checkpoint could be killed between the two:
/// the checkpoint then names its own epoch the best while best/ holds an older one, or none.
/// The checkpoint's model is that best model: write it.
fn restore_missing_best(out: &Path, model: &Scn, state: &RunState) -> Result<()> {
    let Some(best) = &state.best else {
        return Ok(());
    };
    let on_disk = checkpoint::read_state(&checkpoint::best_dir(out)).map(|s| s.epoch).ok();
    if best.epoch == state.epoch && on_disk != Some(best.epoch) {
        log::warn!(
            "{}: best/ does not hold epoch {} (the run was stopped while saving it); writing it from the checkpoint",
            out.display(),
            best.epoch
        );
        checkpoint::save_best(out, model, state)?;
    }
    Ok(())
}

/// Evaluates the best model on the test split and records the result in best/state.json (once:
/// a finished run that is resumed again reuses it).
fn test_best(
    out: &Path,
    samples: &[Sample],
    input: &InputConfig,
    num_classes: usize,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<Option<Evaluation>> {
    let dir = checkpoint::best_dir(out);
    if !dir.join(checkpoint::STATE_FILE).is_file() {
        return Ok(None);
    }
    let mut best = checkpoint::read_state(&dir)?;
    let evaluation = match best.test.clone() {
        Some(done) => done,
        None => {
            observer.validating(samples.len());
            let model = checkpoint::load_model(best.model_config().init(device), &dir.join(checkpoint::MODEL_FILE))?;
            let evaluation = evaluate(&model, samples, input, 64, num_classes, device);
            best.test = Some(evaluation.clone());
            checkpoint::write_state(&dir, &best)?;
            evaluation
        }
    };
    observer.tested(best.epoch, &evaluation);
    Ok(Some(evaluation))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::data::{ImageRef, Label};

    fn sample(index: usize, label: Label) -> Sample {
        Sample {
            image: ImageRef::File(PathBuf::from(format!("{index}.png"))),
            label,
            index,
        }
    }

    fn soft_rows(targets: Targets) -> Vec<f32> {
        match targets {
            Targets::Soft(t) => tensor_values(t),
            Targets::Hard(_) => panic!("expected soft targets"),
        }
    }

    /// Two training images of four classes: a hard label (class 2) and FER+ votes split
    /// between classes 0 and 1.
    fn hard_and_voted() -> Vec<Sample> {
        let votes: Arc<[f32]> = Arc::from(vec![0.5f32, 0.5, 0.0, 0.0]);
        vec![
            sample(0, Label::hard(2)),
            sample(
                1,
                Label {
                    class: 0,
                    distribution: Some(votes),
                },
            ),
        ]
    }

    fn close(got: Vec<f32>, want: [f32; 8]) {
        assert!(
            got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
            "{got:?} != {want:?}"
        );
    }

    #[test]
    fn a_model_of_other_classes_gives_the_columns_of_the_classes_both_have() {
        use crate::model::{ResNetConfig, ScnConfig};

        let device = Device::flex();
        let names = |list: &[&str]| list.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let build = |classes| {
            ScnConfig::new(classes)
                .with_backbone(ResNetConfig::new().with_in_channels(1).with_width(4))
                .init(&device)
        };
        let (earlier, fresh) = (build(3), build(3));
        let columns = |l: &burn::nn::Linear| {
            let w = l.weight.val().transpose().into_data().try_to_vec::<f32>().unwrap(); // rows = classes
            let b = l.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap();
            (w, b)
        };
        let (old_w, old_b) = columns(&earlier.fc);
        let (new_w, new_b) = columns(&fresh.fc);
        let stem = earlier.backbone.as_ref().unwrap().conv1.weight.val().into_data();
        let alpha = earlier.alpha.weight.val().into_data();
        let (model, carried) = carry_over_classes(
            earlier,
            &names(&["neutral", "happiness", "surprise"]),
            fresh,
            &names(&["surprise", "anger", "neutral"]),
        );
        assert_eq!(carried, names(&["surprise", "neutral"]));
        let (w, b) = columns(&model.fc);
        let f = w.len() / 3; // features per class
        let row = |m: &[f32], i: usize| m[i * f..(i + 1) * f].to_vec();
        // surprise from the earlier model's third row, anger fresh, neutral from its first.
        assert_eq!(row(&w, 0), row(&old_w, 2));
        assert_eq!(row(&w, 1), row(&new_w, 1));
        assert_eq!(row(&w, 2), row(&old_w, 0));
        assert_eq!(b, vec![old_b[2], new_b[1], old_b[0]]);
        // The backbone and the attention head are the earlier model's.
        assert_eq!(model.backbone.as_ref().unwrap().conv1.weight.val().into_data(), stem);
        assert_eq!(model.alpha.weight.val().into_data(), alpha);
    }

    #[test]
    fn the_log_says_how_fast_the_backbone_learns() {
        let mut config = TrainConfig::preset(crate::config::Preset::Official);
        config.optimizer.set_lr(0.001);
        assert_eq!(backbone_rate_note(&config), None);
        config.backbone_lr_scale = 0.2;
        assert_eq!(
            backbone_rate_note(&config).as_deref(),
            Some("the backbone learns at 0.2 of the rate (2.00e-4 at the start), the heads at 1.00e-3")
        );
        config.backbone_lr_scale = 0.0;
        assert_eq!(
            backbone_rate_note(&config).as_deref(),
            Some("the backbone stays as loaded (backbone_lr_scale 0); the heads learn at 1.00e-3")
        );
    }

    #[test]
    fn the_backbone_learns_at_its_share_of_the_rate() {
        use crate::model::{ResNetConfig, ScnConfig};

        let device = Device::flex().autodiff();
        let lr = 0.01;
        // Adam's first step moves every parameter with a gradient by about its rate, so the
        // largest change in a layer is the rate that layer learned at.
        let largest_moves = |scale: f64| {
            let model = ScnConfig::new(3)
                .with_backbone(ResNetConfig::new().with_in_channels(1).with_width(4))
                .init(&device);
            let stem = model.backbone.as_ref().map(|b| b.conv1.weight.val());
            let fc = model.fc.weight.val();
            let images = Tensor::<4>::random([2, 1, 32, 32], burn::tensor::Distribution::Default, &device);
            let loss = model.forward(images).logits.powf_scalar(2.0).sum();
            let mut optimizer = build_optimizer(&OptimizerSettings::Adam {
                lr,
                weight_decay: 0.0,
                epsilon: 1e-8,
            });
            let model = apply_gradients(model, &mut optimizer, loss.backward(), lr, scale);
            let moved = |before: Tensor<4>, after: Tensor<4>| (after - before).abs().max().into_scalar::<f32>() as f64;
            let stem_after = model.backbone.as_ref().map(|b| b.conv1.weight.val());
            let fc_moved = (model.fc.weight.val() - fc).abs().max().into_scalar::<f32>() as f64;
            (moved(stem.unwrap(), stem_after.unwrap()), fc_moved)
        };
        for scale in [1.0, 0.1, 0.0] {
            let (stem, fc) = largest_moves(scale);
            assert!(
                (fc - lr).abs() < lr * 0.01,
                "scale {scale}: the heads moved {fc}, not {lr}"
            );
            assert!(
                (stem - lr * scale).abs() < lr * 0.01,
                "scale {scale}: the backbone moved {stem}, not {}",
                lr * scale
            );
        }
    }

    #[test]
    fn label_smoothing_spreads_eps_over_every_kind_of_target() {
        let device = Device::flex();
        let samples = hard_and_voted();
        let mut table = LabelTable::new(vec![2, 0]);
        let targets =
            |table: &LabelTable, mode, eps| batch_targets(&[0, 1], &samples, table, mode, None, eps, 1, 1, 4, &device);

        // Off: majority labels stay hard.
        let (hard, off) = targets(&table, LabelMode::Majority, 0.0);
        assert_eq!(hard, vec![2, 0]);
        assert!(matches!(off, Targets::Hard(_)));
        // Hard labels: 1 - eps + eps / 4 on the class, eps / 4 elsewhere.
        let (hard, on) = targets(&table, LabelMode::Majority, 0.2);
        assert_eq!(hard, vec![2, 0]);
        close(soft_rows(on), [0.05, 0.05, 0.85, 0.05, 0.85, 0.05, 0.05, 0.05]);
        // Vote distributions are smoothed the same way.
        let (_, votes) = targets(&table, LabelMode::Crossentropy, 0.2);
        close(soft_rows(votes), [0.05, 0.05, 0.85, 0.05, 0.45, 0.45, 0.05, 0.05]);
        // A relabeled image's one-hot target at its new class too.
        table.current[1] = 3;
        let (hard, relabeled) = targets(&table, LabelMode::Crossentropy, 0.2);
        assert_eq!(hard, vec![2, 3]);
        close(soft_rows(relabeled), [0.05, 0.05, 0.85, 0.05, 0.05, 0.05, 0.05, 0.85]);
    }

    #[test]
    fn a_teacher_mixes_into_every_kind_of_target_before_smoothing() {
        let device = Device::flex();
        let samples = hard_and_voted();
        // The teacher says class 3 for the first image and could not read the second.
        let teacher =
            TeacherTargets::new(vec![0.0, 0.0, 0.0, 1.0, f32::NAN, f32::NAN, f32::NAN, f32::NAN], 2, 4).unwrap();
        let table = LabelTable::new(vec![2, 0]);
        let targets = |mode, eps| {
            batch_targets(
                &[0, 1],
                &samples,
                &table,
                mode,
                Some((&teacher, 0.5)),
                eps,
                1,
                1,
                4,
                &device,
            )
        };
        // Majority labels become soft: half the label, half the teacher.
        let (hard, mixed) = targets(LabelMode::Majority, 0.0);
        assert_eq!(hard, vec![2, 0]);
        close(soft_rows(mixed), [0.0, 0.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0]);
        // Vote distributions mix the same way; the unread image keeps its votes.
        let (_, mixed) = targets(LabelMode::Crossentropy, 0.0);
        close(soft_rows(mixed), [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0]);
        // Smoothing applies to the mixed target.
        let (_, smoothed) = targets(LabelMode::Majority, 0.2);
        close(soft_rows(smoothed), [0.05, 0.05, 0.45, 0.45, 0.85, 0.05, 0.05, 0.05]);
    }
}
