//! `scn train`: builds the run's settings from a preset or config file and the flags, trains
//! with progress bars, draws the curves and confusion matrix after every epoch, and stops
//! cleanly on Ctrl-C (the last checkpoint is kept; `--resume` continues).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use scn::plot::{self, Panel, Series};
use scn::teacher::OnnxTeacher;
use scn::train::config::{Preset, TrainConfig};
use scn::train::data::Split;
use scn::train::data::augment::{AffineConfig, AugmentConfig};
use scn::train::data::input::InputConfig;
use scn::train::device::DeviceChoice;
use scn::train::distill::{DistillConfig, Ensemble, Teacher};
use scn::train::loss::LossWeighting;
use scn::train::metrics::{EpochMetrics, Evaluation, NoiseAttention, NoiseFit};
use scn::train::relabel::{RelabelConfig, RelabelMode};
use scn::train::trainer::{self, DataSettings, Observer, Outcome, RunInfo, TrainOptions};
use scn::train::weights::Pretrained;

use crate::cli::TrainArgs;
use crate::cmd::data::open_options;

/// A configuration built from the command line, with the settings its flags set.
pub struct BuiltConfig {
    /// The base configuration (`--config` file or preset) with the flags applied.
    pub config: TrainConfig,
    /// The settings (paths as [`TrainConfig::differences`] names them) a flag was typed for,
    /// even with the base's own value.
    pub typed: Vec<&'static str>,
}

/// Applies the flags to a base configuration. With `--distill` the configuration distills from a
/// teacher whose description ([`Teacher::describe`]) the caller writes in once it has loaded the
/// models, so that a wrong flag is reported before any model is read.
pub fn build_config(args: &TrainArgs) -> Result<BuiltConfig> {
    let mut c = match &args.config {
        Some(path) => TrainConfig::load(path)?,
        None => TrainConfig::preset(Preset::from(args.preset)),
    };
    let mut typed = Vec::new();
    if let Some(v) = args.epochs {
        c.epochs = v;
        typed.push("epochs");
    }
    if let Some(v) = args.batch_size {
        c.batch_size = v;
        typed.push("batch_size");
    }
    if let Some(v) = args.lr {
        c.optimizer.set_lr(v);
        typed.push("optimizer.lr");
    }
    if args.input_size.is_some() {
        typed.push("input.size");
    }
    let size = args.input_size.unwrap_or(c.input.size);
    match args.channels {
        Some(1) => c.input = InputConfig::grey(size),
        Some(3) => c.input = InputConfig::rgb(size),
        Some(other) => bail!("--channels must be 1 or 3, got {other}"),
        None => c.input.size = size,
    }
    if args.channels.is_some() {
        typed.push("input");
    }
    if let Some(v) = args.width {
        c.width = v;
        typed.push("width");
    }
    if let Some(v) = args.stem {
        c.stem = v.into();
        typed.push("stem");
    }
    if let Some(v) = args.backbone {
        c.backbone = v.into();
        typed.push("backbone");
        if c.backbone == scn::train::config::Backbone::Dlib && args.config.is_none() {
            // dlib's own input normalisation (pixel minus its RGB mean, divided by 256).
            (c.input.mean, c.input.std) = scn::train::model::face_resnet::normalisation(c.input.channels);
        }
    }
    if let Some(v) = args.dropout {
        c.dropout = v;
        typed.push("dropout");
    }
    if args.baseline {
        c.baseline = true;
        typed.push("baseline");
    }
    if args.no_relabel {
        c.relabel = None;
        typed.push("relabel");
    } else if args.relabel_mode.is_some()
        || args.relabel_epoch.is_some()
        || args.margin_2.is_some()
        || args.relabel_prior
    {
        let r = c.relabel.get_or_insert_with(RelabelConfig::default);
        if let Some(mode) = args.relabel_mode {
            r.mode = RelabelMode::from(mode);
            typed.push("relabel.mode");
        }
        if let Some(v) = args.relabel_epoch {
            r.start_epoch = v;
            typed.push("relabel.start_epoch");
        }
        if let Some(v) = args.margin_2 {
            r.margin_2 = v;
            typed.push("relabel.margin_2");
        }
        if args.relabel_prior {
            r.prior_correction = true;
            typed.push("relabel.prior_correction");
        }
    }
    if let Some(v) = args.beta {
        c.beta = v;
        typed.push("beta");
    }
    if let Some(v) = args.margin_1 {
        c.margin_1 = v;
        typed.push("margin_1");
    }
    if let Some(gamma) = args.gamma {
        c.loss_weighting = LossWeighting::Paper { gamma };
        typed.push("loss_weighting");
    }
    if args.no_augment {
        c.augment = None;
        typed.push("augment");
    }
    if let Some(degrees) = args.affine {
        let augment = c.augment.get_or_insert_with(AugmentConfig::default);
        augment.affine = Some(AffineConfig {
            degrees,
            ..AffineConfig::default()
        });
        typed.push("augment.affine");
    }
    if let Some(v) = args.label_smoothing {
        c.label_smoothing = v;
        typed.push("label_smoothing");
    }
    if let Some(v) = args.backbone_lr_scale {
        c.backbone_lr_scale = v;
        typed.push("backbone_lr_scale");
    }
    if let Some(v) = args.seed {
        c.seed = v;
        typed.push("seed");
    }
    if !args.distill.is_empty() {
        let names: Vec<String> = args.distill.iter().map(|p| p.display().to_string()).collect();
        let d = c.distill.get_or_insert_with(|| DistillConfig {
            weight: 0.5,
            temperature: 1.0,
            teacher: String::new(),
        });
        d.teacher = names.join(", ");
        typed.push("distill");
    }
    match c.distill.as_mut() {
        Some(d) => {
            if let Some(v) = args.distill_weight {
                d.weight = v;
                typed.push("distill.weight");
            }
            if let Some(v) = args.distill_temperature {
                d.temperature = v;
                typed.push("distill.temperature");
            }
        }
        None if args.distill_weight.is_some() || args.distill_temperature.is_some() => {
            bail!("--distill-weight and --distill-temperature need a teacher: --distill MODEL")
        }
        None => {}
    }
    c.validate().map_err(|e| anyhow!("invalid settings: {e}"))?;
    Ok(BuiltConfig { config: c, typed })
}

/// The settings (paths as `TrainConfig::differences` names them) that this command line gave:
/// those where the built config differs from the preset (a `--config` file's changes among
/// them), and every flag typed, even with the preset's own value (`--lr 0.001` on a resume of
/// a run trained at 0.01 must be named, not dropped).
fn given_settings(args: &TrainArgs, built: &BuiltConfig) -> Vec<String> {
    let mut given: Vec<String> = TrainConfig::preset(Preset::from(args.preset))
        .differences(&built.config)
        .into_iter()
        .map(|d| d.path)
        .collect();
    for path in &built.typed {
        if !given.iter().any(|g| g == path) {
            given.push(path.to_string());
        }
    }
    given
}

/// What a person sees of a run: progress bars on a terminal, a progress line every tenth of
/// an epoch in a log (stderr redirected, as under nohup), and the plots after every epoch.
struct TrainProgress {
    out: PathBuf,
    bar: Option<ProgressBar>,
    classes: Vec<String>,
    /// The dataset as the trainer describes it (with FERPlus's label mode), named again beside
    /// the test accuracy at the end.
    dataset: String,
    history: Vec<EpochMetrics>,
    baseline: bool,
    /// SCN relabels from some epoch on (not with `--no-relabel` or the baseline).
    relabels: bool,
    epochs: usize,
    loss_ema: Option<f32>,
    /// Without a terminal: the epoch under way, its steps, when it started, and how many steps
    /// apart its progress lines are.
    log_progress: Option<LogProgress>,
}

/// The progress of one epoch for a log without a progress bar.
struct LogProgress {
    epoch: usize,
    steps: usize,
    every: usize,
    started: Instant,
}

impl LogProgress {
    /// Progress every tenth of an epoch when stderr is not a terminal (indicatif draws nothing
    /// there), so that a run in the background shows it is alive and when the epoch will end.
    fn for_epoch(epoch: usize, steps: usize) -> Option<Self> {
        (!std::io::stderr().is_terminal()).then(|| Self {
            epoch,
            steps,
            every: steps.div_ceil(10).max(1),
            started: Instant::now(),
        })
    }

    /// The line to log after `step` (1-based), if one is due.
    fn line(&self, step: usize, epochs: usize, loss: f32) -> Option<String> {
        if !step.is_multiple_of(self.every) || step >= self.steps {
            return None;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = elapsed / step as f64 * (self.steps - step) as f64;
        Some(format!(
            "epoch {}/{epochs}: step {step}/{}, loss {loss:.4}, {} elapsed, about {} left",
            self.epoch,
            self.steps,
            minutes(elapsed),
            minutes(left)
        ))
    }
}

/// `1m05s`-style duration.
fn minutes(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}m{:02}s", s / 60, s % 60)
}

impl TrainProgress {
    /// The line logged when an epoch ends. The baseline's has no attention weight, rank
    /// regularization or relabeling in it, and a run without relabeling no relabel counts: those
    /// would be zeros or ones in every epoch.
    fn epoch_line(&self, m: &EpochMetrics, is_best: bool) -> String {
        let val = m
            .validation
            .as_ref()
            .map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v.accuracy));
        let best = if is_best { " (best)" } else { "" };
        let fit = m.noise_fit.as_ref().map_or(String::new(), noise_answers);
        let mut line = format!("epoch {}/{}: loss {:.4}", m.epoch, self.epochs, m.loss);
        if !self.baseline {
            line.push_str(&format!(" (wce {:.4}, rr {:.4})", m.wce, m.rr));
        }
        line.push_str(&format!(
            ", train {:.2}%{fit}, val {val}{best}",
            100.0 * m.train_accuracy
        ));
        if !self.baseline {
            let weights = m.noise_attention.as_ref().map_or(String::new(), noise_weights);
            line.push_str(&format!(", alpha {:.3}/{:.3}{weights}", m.alpha_high, m.alpha_low));
        }
        if self.relabels {
            let noise = match (m.noise_restored, m.noise_flipped, m.noise_wrong) {
                (Some(r), Some(f), Some(w)) => format!(", {r}/{f} flipped labels restored, wrong labels {f} -> {w}"),
                (Some(r), Some(f), None) => format!(", {r}/{f} flipped labels restored"),
                _ => String::new(),
            };
            let to = relabel_destinations(&m.relabeled_to, &self.classes);
            line.push_str(&format!(
                ", relabeled {} ({} total{to}{noise})",
                m.relabeled, m.relabeled_total
            ));
        }
        line.push_str(&format!(", {:.0} img/s", m.images_per_second));
        line
    }
}

impl Observer for TrainProgress {
    fn started(&mut self, info: &RunInfo) {
        self.classes = info.classes.clone();
        self.dataset = info.dataset.clone();
        self.baseline = info.baseline;
        self.relabels = info.relabels;
        self.epochs = info.epochs;
        self.history = info.history.clone();
        log::info!(
            "training on {}: {} ({} training images{}), {:.1} M parameters, epochs {}..={}",
            info.device,
            info.dataset,
            info.train_images,
            info.validation
                .map_or(String::new(), |(s, n)| format!(", validating on {n} {s} images")),
            info.parameters as f64 / 1e6,
            info.start_epoch,
            info.epochs
        );
        if !info.kept_settings.is_empty() {
            let list: Vec<String> = info
                .kept_settings
                .iter()
                .map(|d| format!("{} {} (given {})", d.path, d.left, d.right))
                .collect();
            log::warn!(
                "resuming with the checkpoint's settings, not those given: {}; to train with others, start a new run (another --out, or --force)",
                list.join(", ")
            );
        }
        // A resumed run's plots are drawn again at once, so a run made by an older version (or
        // whose plots were lost) gets current ones even when no epoch is left to train.
        if !self.history.is_empty()
            && let Err(e) = write_plots(&self.out, &self.history, &self.classes, self.baseline)
        {
            log::warn!("could not write the plots in {}: {e:#}", self.out.display());
        }
    }

    fn epoch_started(&mut self, epoch: usize, steps: usize) {
        let bar = ProgressBar::new(steps as u64).with_style(
            ProgressStyle::with_template(
                "epoch {prefix} {bar:30} {pos}/{len} steps, {msg} [{elapsed_precise} < {eta_precise}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(format!("{epoch}/{}", self.epochs));
        self.loss_ema = None;
        self.bar = Some(bar);
        self.log_progress = LogProgress::for_epoch(epoch, steps);
    }

    fn step(&mut self, step: usize, loss: f32) {
        let ema = self.loss_ema.map_or(loss, |e| 0.9 * e + 0.1 * loss);
        self.loss_ema = Some(ema);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {ema:.4}"));
            bar.inc(1);
        }
        if let Some(line) = self.log_progress.as_ref().and_then(|p| p.line(step, self.epochs, ema)) {
            log::info!("{line}");
        }
    }

    fn validating(&mut self, images: usize) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("validating on {images} images"));
        }
    }

    fn epoch_finished(&mut self, m: &EpochMetrics, checkpoint: &Path, is_best: bool) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        log::info!("{}", self.epoch_line(m, is_best));
        log::debug!("checkpoint {}", checkpoint.display());
        self.history.push(m.clone());
        if let Err(e) = write_plots(&self.out, &self.history, &self.classes, self.baseline) {
            log::warn!("could not write the plots in {}: {e:#}", self.out.display());
        }
    }
}

/// How the attention weighed the wrong labels of a noise experiment, for the epoch line: their
/// mean weight against the right ones', the chance that a wrong label weighs less than a right
/// one (AUROC), and the share of the wrong labels in the low-importance groups against what
/// chance would put there (`, wrong labels weigh 0.612 against 0.801 (AUROC 0.83), 45% of them
/// in the low groups (chance 30%)`).
fn noise_weights(a: &NoiseAttention) -> String {
    format!(
        ", wrong labels weigh {:.3} against {:.3} (AUROC {:.2}), {:.0}% of them in the low groups (chance {:.0}%)",
        a.alpha_wrong,
        a.alpha_right,
        a.auroc,
        percent(a.wrong_in_low_group, a.wrong_seen),
        percent(a.low_group, a.seen)
    )
}

/// What the network answered for the flipped images of a noise experiment in the epoch's
/// training steps, for the epoch line: their wrong label (memorised noise), their clean one,
/// and how often the other images got their label (` (flipped images answered with their wrong
/// label 3.1%, their clean one 78.6%; the others right 80.3%)`).
fn noise_answers(f: &NoiseFit) -> String {
    format!(
        " (flipped images answered with their wrong label {:.1}%, their clean one {:.1}%; the others right {:.1}%)",
        percent(f.flipped_as_noisy, f.flipped_seen),
        percent(f.flipped_as_clean, f.flipped_seen),
        percent(f.others_right, f.others_seen)
    )
}

/// With a noise record: the share of the flipped training images answered with their wrong
/// label in the epoch's steps (memorised noise), in percent.
pub(super) fn memorised(m: &EpochMetrics) -> Option<f64> {
    m.noise_fit
        .as_ref()
        .map(|f| percent(f.flipped_as_noisy, f.flipped_seen))
}

/// `n` as a percentage of `of` (0 when `of` is 0).
fn percent(n: usize, of: usize) -> f64 {
    if of > 0 { 100.0 * n as f64 / of as f64 } else { 0.0 }
}

/// Where the relabeled labels went, for the epoch line: the three classes that received most,
/// then the rest together (`, to happiness 2111, surprise 1238, anger 155, others 51`); empty
/// while nothing is relabeled.
fn relabel_destinations(counts: &[usize], classes: &[String]) -> String {
    let mut ranked: Vec<(usize, &str)> = counts
        .iter()
        .zip(classes)
        .filter(|(n, _)| **n > 0)
        .map(|(&n, name)| (n, name.as_str()))
        .collect();
    if ranked.is_empty() {
        return String::new();
    }
    // Most first; ties in class order (the sort is stable).
    ranked.sort_by_key(|&(n, _)| std::cmp::Reverse(n));
    let shown = ranked.iter().take(3).map(|(n, name)| format!("{name} {n}"));
    let others: usize = ranked.iter().skip(3).map(|(n, _)| n).sum();
    let mut line = format!(", to {}", shown.collect::<Vec<_>>().join(", "));
    if others > 0 {
        line.push_str(&format!(", others {others}"));
    }
    line
}

/// Draws `curves.png` (loss, accuracy and, for SCN, attention and relabeling) and
/// `confusion.png` (the last validation).
pub fn write_plots(out: &Path, history: &[EpochMetrics], classes: &[String], baseline: bool) -> Result<()> {
    let series = |name: &str, f: &dyn Fn(&EpochMetrics) -> Option<f64>| Series {
        name: name.into(),
        points: history
            .iter()
            .filter_map(|m| f(m).map(|v| (m.epoch as f64, v)))
            .collect(),
    };
    let loss = if baseline {
        Panel {
            title: "Training loss (cross-entropy)".into(),
            series: vec![series("loss", &|m| Some(m.loss))],
            y_range: None,
        }
    } else {
        Panel {
            title: "Training loss".into(),
            series: vec![
                series("total", &|m| Some(m.loss)),
                series("WCE", &|m| Some(m.wce)),
                series("RR", &|m| Some(m.rr)),
            ],
            y_range: None,
        }
    };
    let mut accuracy = vec![
        series("train", &|m| Some(100.0 * m.train_accuracy)),
        series("validation", &|m| m.validation.as_ref().map(|v| 100.0 * v.accuracy)),
        series("val. mean class", &|m| {
            m.validation.as_ref().map(|v| 100.0 * v.mean_class_accuracy)
        }),
    ];
    if history.iter().any(|m| m.noise_fit.is_some()) {
        // What the flipped training images were answered with: memorised noise rises in the first.
        accuracy.push(series("flipped: wrong label", &memorised));
        accuracy.push(series("flipped: clean label", &|m| {
            m.noise_fit
                .as_ref()
                .map(|f| percent(f.flipped_as_clean, f.flipped_seen))
        }));
    }
    let mut panels = vec![
        loss,
        Panel {
            title: "Accuracy (%)".into(),
            series: accuracy,
            y_range: None,
        },
    ];
    if !baseline {
        let mut attention = vec![
            series("high group", &|m| Some(m.alpha_high)),
            series("low group", &|m| Some(m.alpha_low)),
        ];
        if history.iter().any(|m| m.noise_attention.is_some()) {
            attention.push(series("wrong labels", &|m| {
                m.noise_attention.as_ref().map(|a| a.alpha_wrong)
            }));
            attention.push(series("right labels", &|m| {
                m.noise_attention.as_ref().map(|a| a.alpha_right)
            }));
        }
        panels.push(Panel {
            title: "Attention weight alpha (mean)".into(),
            series: attention,
            y_range: Some((0.0, 1.0)),
        });
    }
    if !baseline {
        let mut relabel = vec![
            series("relabeled (epoch)", &|m| Some(m.relabeled as f64)),
            series("relabeled (total)", &|m| Some(m.relabeled_total as f64)),
        ];
        if history.iter().any(|m| m.noise_restored.is_some()) {
            relabel.push(series("flipped restored", &|m| m.noise_restored.map(|v| v as f64)));
            relabel.push(series("labels wrong", &|m| m.noise_wrong.map(|v| v as f64)));
        }
        // Counts: from zero, with a visible axis while nothing has been relabeled yet.
        let top = relabel
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(1.0, f64::max);
        panels.push(Panel {
            title: "Relabeling".into(),
            series: relabel,
            y_range: Some((0.0, top)),
        });
    }
    plot::panels(&panels, 2).save_png(&out.join("curves.png"))?;
    if let Some(v) = history
        .iter()
        .rev()
        .find_map(|m| m.validation.as_ref().map(|v| (m.epoch, v)))
    {
        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
        let title = format!(
            "Validation, epoch {}: {:.2}% ({} images)",
            v.0,
            100.0 * v.1.accuracy,
            v.1.images
        );
        plot::confusion_matrix(&v.1.confusion.counts, &names, &title).save_png(&out.join("confusion.png"))?;
    }
    Ok(())
}

/// The end-of-run test accuracy, naming the labels it was counted on: a FERPlus run in
/// `crossentropy` mode counts more test images (and a lower accuracy) than `scn eval`'s
/// default majority protocol, and the line says so rather than leave two numbers unexplained.
fn test_line(test: &Evaluation, dataset: &str) -> String {
    let on = if dataset.is_empty() {
        String::new()
    } else {
        format!(" of {dataset}")
    };
    format!(
        ", test accuracy {:.2}% (mean class {:.2}%, {} images{on})",
        100.0 * test.accuracy,
        100.0 * test.mean_class_accuracy,
        test.images
    )
}

/// Runs `scn train`.
pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let mut built = build_config(&args)?;
    // Settings and the output folder are checked before any teacher is read (seconds each).
    trainer::refuse_earlier_run(&args.out, args.resume, args.force)?;
    let mut teachers: Vec<Box<dyn Teacher>> = Vec::with_capacity(args.distill.len());
    for path in &args.distill {
        let teacher = OnnxTeacher::load(path).with_context(|| format!("--distill {}", path.display()))?;
        teachers.push(Box::new(teacher));
    }
    // One model is an ensemble of one: its mean is its own probabilities, bit for bit.
    let teacher: Option<Arc<dyn Teacher>> = if teachers.is_empty() {
        None
    } else {
        Some(Arc::new(Ensemble::new(teachers)?))
    };
    if let (Some(settings), Some(teacher)) = (built.config.distill.as_mut(), &teacher) {
        settings.teacher = teacher.describe();
    }
    // What this command line set: on a resume, the checkpoint's settings are kept and those
    // the command line gave otherwise are named in a warning.
    let explicit_settings = given_settings(&args, &built);
    let config = built.config;
    let device = DeviceChoice::from(args.device);
    let val_split = args.val_split.map(Split::from);
    let options = TrainOptions {
        data: DataSettings {
            path: args.dataset.data().to_path_buf(),
            open: open_options(&args.dataset.open)?,
            val_split,
        },
        config,
        out: args.out.clone(),
        device,
        resume: args.resume,
        force: args.force,
        resume_epochs: args.resume.then_some(args.epochs).flatten(),
        explicit_settings,
        pretrained: args.pretrained.clone().map(|path| Pretrained {
            path,
            allow_partial: args.allow_partial,
        }),
        init_from: args.init_from.clone(),
        noise_record: args.noise_record.clone(),
        max_steps: args.max_steps,
        keep_checkpoints: args.keep_checkpoints,
        teacher,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let presses = Arc::new(AtomicUsize::new(0));
    {
        let (stop, presses) = (Arc::clone(&stop), Arc::clone(&presses));
        let handler = ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) == 0 {
                eprintln!("\nstopping after this step; the last checkpoint is kept (Ctrl-C again to quit at once)");
                stop.store(true, Ordering::SeqCst);
            } else {
                std::process::exit(130);
            }
        });
        if let Err(e) = handler {
            log::warn!("Ctrl-C will not stop training cleanly: {e}");
        }
    }
    let mut observer = TrainProgress {
        out: args.out.clone(),
        bar: None,
        classes: Vec::new(),
        dataset: String::new(),
        history: Vec::new(),
        epochs: 0,
        loss_ema: None,
        baseline: false,
        relabels: false,
        log_progress: None,
    };
    let summary = trainer::train(&options, &mut observer, &stop)
        .with_context(|| format!("training into {} failed", args.out.display()))?;
    if let Some(bar) = observer.bar.take() {
        bar.finish_and_clear();
    }
    let best = summary.best.as_ref().map_or("no validation".to_string(), |b| {
        format!("best epoch {} with {:.2}%", b.epoch, 100.0 * b.accuracy)
    });
    match summary.outcome {
        Outcome::Finished => {
            let test = summary
                .test
                .as_ref()
                .map_or(String::new(), |t| test_line(t, &observer.dataset));
            println!(
                "trained {} epochs into {}: {best}{test}; best model in {}",
                summary.epochs_done,
                summary.out.display(),
                summary.out.join("best").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Interrupted => {
            println!(
                "interrupted after {} complete epochs ({best}); continue with: scn train ... --out {} --resume",
                summary.epochs_done,
                summary.out.display()
            );
            Ok(ExitCode::from(130))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_gets_a_progress_line_every_tenth_of_an_epoch_but_not_at_its_end() {
        let progress = LogProgress {
            epoch: 3,
            steps: 437,
            every: 44,
            started: Instant::now(),
        };
        let due: Vec<usize> = (1..=437).filter(|&s| progress.line(s, 10, 1.0).is_some()).collect();
        assert_eq!(due, vec![44, 88, 132, 176, 220, 264, 308, 352, 396]);
        let line = progress.line(44, 10, 1.25).unwrap_or_default();
        assert!(
            line.starts_with("epoch 3/10: step 44/437, loss 1.2500, 0m00s elapsed"),
            "{line}"
        );
    }

    #[test]
    fn the_test_accuracy_names_the_labels_it_was_counted_on() {
        let test = Evaluation {
            images: 3507,
            loss: 0.5,
            accuracy: 0.8206,
            mean_class_accuracy: 0.5688,
            per_class: vec![None; 8],
            confusion: scn::train::metrics::Confusion::new(8),
            alpha_percentiles: Vec::new(),
        };
        assert_eq!(
            test_line(&test, "FERPlus, crossentropy labels, 8 classes at data"),
            ", test accuracy 82.06% (mean class 56.88%, 3507 images of FERPlus, crossentropy labels, 8 classes at data)"
        );
        assert_eq!(
            test_line(&test, ""),
            ", test accuracy 82.06% (mean class 56.88%, 3507 images)"
        );
    }

    #[test]
    fn the_epoch_line_says_how_the_wrong_labels_were_weighed() {
        let a = NoiseAttention {
            alpha_wrong: 0.6124,
            alpha_right: 0.8011,
            auroc: 0.8349,
            wrong_in_low_group: 45,
            wrong_seen: 100,
            low_group: 300,
            seen: 1000,
        };
        assert_eq!(
            noise_weights(&a),
            ", wrong labels weigh 0.612 against 0.801 (AUROC 0.83), 45% of them in the low groups (chance 30%)"
        );
    }

    #[test]
    fn the_epoch_line_says_what_the_flipped_images_were_answered_with() {
        let f = NoiseFit {
            flipped_as_noisy: 31,
            flipped_as_clean: 786,
            flipped_seen: 1000,
            others_right: 2409,
            others_seen: 3000,
        };
        assert_eq!(
            noise_answers(&f),
            " (flipped images answered with their wrong label 3.1%, their clean one 78.6%; the others right 80.3%)"
        );
    }

    #[test]
    fn the_epoch_line_leaves_out_what_the_method_does_not_do() {
        let m: EpochMetrics = serde_json::from_value(serde_json::json!({
            "epoch": 2, "lr": 0.001, "loss": 1.5, "wce": 1.4, "rr": 0.1, "train_accuracy": 0.5,
            "alpha_high": 0.9, "alpha_low": 0.4, "alpha_histogram": [], "relabeled": 7,
            "relabeled_total": 9, "relabeled_to": [7, 0], "noise_restored": 3, "noise_flipped": 10,
            "noise_wrong": 8, "skipped_images": 0, "images_per_second": 200.4, "seconds": 60.0,
        }))
        .unwrap();
        let progress = |baseline, relabels| TrainProgress {
            out: PathBuf::new(),
            bar: None,
            classes: vec!["neutral".into(), "happiness".into()],
            dataset: String::new(),
            history: Vec::new(),
            baseline,
            relabels,
            epochs: 16,
            loss_ema: None,
            log_progress: None,
        };
        assert_eq!(
            progress(false, true).epoch_line(&m, true),
            "epoch 2/16: loss 1.5000 (wce 1.4000, rr 0.1000), train 50.00%, val - (best), alpha 0.900/0.400, \
             relabeled 7 (9 total, to neutral 7, 3/10 flipped labels restored, wrong labels 10 -> 8), 200 img/s"
        );
        assert_eq!(
            progress(false, false).epoch_line(&m, false),
            "epoch 2/16: loss 1.5000 (wce 1.4000, rr 0.1000), train 50.00%, val -, alpha 0.900/0.400, 200 img/s"
        );
        assert_eq!(
            progress(true, false).epoch_line(&m, false),
            "epoch 2/16: loss 1.5000, train 50.00%, val -, 200 img/s"
        );
    }

    #[test]
    fn the_epoch_line_says_where_the_relabels_went() {
        let classes: Vec<String> = ["neutral", "happiness", "surprise", "sadness", "anger"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(relabel_destinations(&[0; 5], &classes), "");
        assert_eq!(relabel_destinations(&[], &classes), "");
        assert_eq!(
            relabel_destinations(&[3, 2111, 1238, 48, 155], &classes),
            ", to happiness 2111, surprise 1238, anger 155, others 51"
        );
        assert_eq!(
            relabel_destinations(&[5, 0, 5, 0, 0], &classes),
            ", to neutral 5, surprise 5"
        );
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(minutes(65.4), "1m05s");
        assert_eq!(minutes(3600.0), "60m00s");
    }
}
