//! Training end to end on generated data, on the CPU (flex): metrics and checkpoints are
//! written, a resumed run matches an uninterrupted one, relabeling cures label noise.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use scn_train::config::{OptimizerSettings, Preset, Schedule, TrainConfig};
use scn_train::data::OpenOptions;
use scn_train::data::input::InputConfig;
use scn_train::data::synthetic::{self, SyntheticSpec};
use scn_train::device::DeviceChoice;
use scn_train::trainer::{self, DataSettings, LogObserver, TrainOptions};

/// burn's random generator (weight initialisation) is global to the process: runs that must be
/// reproducible take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn small_config(epochs: usize) -> TrainConfig {
    let mut c = TrainConfig::preset(Preset::Official);
    c.epochs = epochs;
    c.batch_size = 16;
    c.input = InputConfig::grey(32);
    c.width = 8;
    c.optimizer = OptimizerSettings::Adam {
        lr: 2e-3,
        weight_decay: 1e-4,
        epsilon: 1e-8,
    };
    c.schedule = Schedule::Constant;
    c
}

/// One epoch at a negligible rate: only batch-norm statistics move, so its validation shows
/// the network as it starts.
fn still_config() -> TrainConfig {
    let mut c = small_config(1);
    c.optimizer = OptimizerSettings::Adam {
        lr: 1e-9,
        weight_decay: 0.0,
        epsilon: 1e-8,
    };
    c
}

/// A generated 3-class dataset (16 training images a class, 32 px, no label noise) in
/// `dir/data`.
fn three_clean_classes(dir: &Path, test_per_class: usize, seed: u64) -> std::path::PathBuf {
    let data = dir.join("data");
    let spec = SyntheticSpec {
        classes: 3,
        train_per_class: 16,
        test_per_class,
        size: 32,
        noise: 0.0,
        seed,
    };
    synthetic::generate(&data, &spec).unwrap();
    data
}

fn options(data: &Path, out: &Path, config: TrainConfig) -> TrainOptions {
    TrainOptions {
        data: DataSettings {
            path: data.to_path_buf(),
            open: OpenOptions::default(),
            val_split: None,
        },
        config,
        out: out.to_path_buf(),
        device: DeviceChoice::Flex,
        resume: false,
        force: false,
        resume_epochs: None,
        explicit_settings: Vec::new(),
        pretrained: None,
        init_from: None,
        noise_record: None,
        max_steps: None,
        keep_checkpoints: scn_train::checkpoint::DEFAULT_KEEP,
        teacher: None,
    }
}

#[test]
fn a_short_run_writes_metrics_and_checkpoints() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 4,
        train_per_class: 16,
        test_per_class: 4,
        size: 32,
        noise: 0.0,
        seed: 3,
    };
    synthetic::generate(&data, &spec).unwrap();
    let out = dir.path().join("run");
    let stop = AtomicBool::new(false);
    let t = std::time::Instant::now();
    let summary = trainer::train(&options(&data, &out, small_config(2)), &mut LogObserver, &stop).unwrap();
    eprintln!("2 epochs: {:?}", t.elapsed());
    assert_eq!(summary.epochs_done, 2);
    assert!(out.join("checkpoints/epoch-0002/model.bpk").is_file());
    assert!(out.join("best/model.bpk").is_file());
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    let last = summary.last.unwrap();
    assert!(last.loss.is_finite() && last.validation.is_some());
}

#[test]
fn every_epochs_checkpoint_is_kept_when_asked_and_the_newest_two_otherwise() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = three_clean_classes(dir.path(), 4, 2);
    let out = dir.path().join("run");
    let stop = AtomicBool::new(false);
    let epochs = |out: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(out.join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("epoch-"))
            .collect();
        names.sort();
        names
    };
    let mut all = options(&data, &out, small_config(3));
    all.keep_checkpoints = 0;
    trainer::train(&all, &mut LogObserver, &stop).unwrap();
    assert_eq!(epochs(&out), ["epoch-0001", "epoch-0002", "epoch-0003"]);
    // A resume with the default prunes back to the newest two.
    let mut more = options(&data, &out, small_config(3));
    more.resume = true;
    more.resume_epochs = Some(4);
    trainer::train(&more, &mut LogObserver, &stop).unwrap();
    assert_eq!(epochs(&out), ["epoch-0003", "epoch-0004"]);
}

/// Prints each epoch (visible with --nocapture).
struct Print;

impl trainer::Observer for Print {
    fn epoch_finished(&mut self, m: &scn_train::metrics::EpochMetrics, _: &Path, _: bool) {
        let v = m.validation.as_ref().map_or(0.0, |v| v.accuracy);
        eprintln!(
            "epoch {:2} loss {:.3} wce {:.3} rr {:.3} train {:.3} val {:.3} alpha hi {:.3} lo {:.3} relabeled {} total {} restored {:?}",
            m.epoch,
            m.loss,
            m.wce,
            m.rr,
            m.train_accuracy,
            v,
            m.alpha_high,
            m.alpha_low,
            m.relabeled,
            m.relabeled_total,
            m.noise_restored
        );
    }
}

/// Sets the stop flag once an epoch is done, as Ctrl-C would.
struct StopAfter<'a> {
    epoch: usize,
    stop: &'a AtomicBool,
}

impl trainer::Observer for StopAfter<'_> {
    fn epoch_finished(&mut self, m: &scn_train::metrics::EpochMetrics, _: &Path, _: bool) {
        if m.epoch == self.epoch {
            self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[test]
fn a_resumed_run_ends_in_the_same_state_as_an_uninterrupted_one() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 4,
        train_per_class: 24,
        test_per_class: 4,
        size: 32,
        noise: 0.3,
        seed: 5,
    };
    synthetic::generate(&data, &spec).unwrap();
    let mut config = small_config(4);
    config.relabel.as_mut().unwrap().start_epoch = 2;
    config.relabel.as_mut().unwrap().mode = scn_train::relabel::RelabelMode::Official;

    let straight = dir.path().join("straight");
    let never = AtomicBool::new(false);
    let a = trainer::train(&options(&data, &straight, config.clone()), &mut LogObserver, &never).unwrap();

    let interrupted = dir.path().join("interrupted");
    let stop = AtomicBool::new(false);
    let first = trainer::train(
        &options(&data, &interrupted, config.clone()),
        &mut StopAfter { epoch: 2, stop: &stop },
        &stop,
    )
    .unwrap();
    assert_eq!(first.outcome, trainer::Outcome::Interrupted);
    assert_eq!(first.epochs_done, 2);
    let mut again = options(&data, &interrupted, config);
    again.resume = true;
    let b = trainer::train(&again, &mut LogObserver, &never).unwrap();
    assert_eq!(b.epochs_done, 4);

    assert_eq!(a.labels, b.labels, "same label table");
    assert!(a.labels.relabeled() > 0, "relabeling was exercised");
    let (ma, mb) = (a.last.unwrap(), b.last.unwrap());
    assert_eq!(ma.loss, mb.loss, "same last-epoch loss");
    assert_eq!(
        ma.validation.as_ref().unwrap().confusion,
        mb.validation.as_ref().unwrap().confusion
    );
    // Validation loss and attention percentiles are functions of every weight: equal to the bit.
    let (va, vb) = (ma.validation.unwrap(), mb.validation.unwrap());
    assert_eq!(va.loss, vb.loss);
    assert_eq!(va.alpha_percentiles, vb.alpha_percentiles);
}

#[test]
fn an_earlier_run_is_not_overwritten_without_force() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 2,
        train_per_class: 8,
        test_per_class: 2,
        size: 32,
        noise: 0.0,
        seed: 1,
    };
    synthetic::generate(&data, &spec).unwrap();
    let out = dir.path().join("run");
    let stop = AtomicBool::new(false);
    trainer::train(&options(&data, &out, small_config(1)), &mut LogObserver, &stop).unwrap();
    let err = trainer::train(&options(&data, &out, small_config(1)), &mut LogObserver, &stop).unwrap_err();
    assert!(
        err.to_string().contains("--resume") && err.to_string().contains("--force"),
        "{err}"
    );
    let mut forced = options(&data, &out, small_config(1));
    forced.force = true;
    assert!(trainer::train(&forced, &mut LogObserver, &stop).is_ok());
    // Resuming a finished run with more epochs continues it.
    let mut more = options(&data, &out, small_config(1));
    more.resume = true;
    more.resume_epochs = Some(2);
    assert_eq!(trainer::train(&more, &mut LogObserver, &stop).unwrap().epochs_done, 2);
    // A resume keeps the checkpoint's settings (--epochs only raises the total) and names
    // those given otherwise, and only those given: the width differs too but came from the
    // preset, as with a bare --resume.
    let mut other = small_config(1);
    other.optimizer.set_lr(0.5);
    other.width = 16;
    let mut changed = options(&data, &out, other);
    changed.resume = true;
    changed.resume_epochs = Some(1);
    changed.explicit_settings = vec!["optimizer".into(), "epochs".into()];
    let mut seen = KeptSettings::default();
    assert_eq!(trainer::train(&changed, &mut seen, &stop).unwrap().epochs_done, 2);
    let kept: Vec<(String, String, String)> = seen.0.into_iter().map(|d| (d.path, d.left, d.right)).collect();
    assert_eq!(
        kept,
        [
            ("epochs".into(), "2".into(), "1".into()),
            ("optimizer.lr".into(), "0.002".into(), "0.5".into())
        ]
    );
}

/// Records the settings a resume kept against those given.
#[derive(Default)]
struct KeptSettings(Vec<scn_train::config::Difference>);

impl trainer::Observer for KeptSettings {
    fn started(&mut self, info: &trainer::RunInfo) {
        self.0 = info.kept_settings.clone();
    }
}

#[test]
fn a_run_started_from_another_carries_its_network_and_refuses_another_shape() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = three_clean_classes(dir.path(), 4, 2);
    let stop = AtomicBool::new(false);
    let first = dir.path().join("first");
    let a = trainer::train(&options(&data, &first, small_config(3)), &mut LogObserver, &stop).unwrap();
    let a_loss = a.last.as_ref().unwrap().validation.as_ref().unwrap().loss;

    let still = still_config();
    let mut warm = options(&data, &dir.path().join("warm"), still.clone());
    warm.init_from = Some(first.clone());
    let b = trainer::train(&warm, &mut LogObserver, &stop).unwrap();
    let fresh = trainer::train(
        &options(&data, &dir.path().join("fresh"), still.clone()),
        &mut LogObserver,
        &stop,
    )
    .unwrap();
    let b_loss = b.last.unwrap().validation.unwrap().loss;
    let fresh_loss = fresh.last.unwrap().validation.unwrap().loss;
    assert!(
        (b_loss - a_loss).abs() < (fresh_loss - a_loss).abs() / 2.0,
        "started from the first run: validation loss {b_loss} vs its {a_loss} (fresh network: {fresh_loss})"
    );
    let state = scn_train::checkpoint::read_state(&dir.path().join("warm/best")).unwrap();
    assert_eq!(
        state.started_from.as_deref(),
        Some(first.display().to_string().as_str())
    );

    let mut wider = still;
    wider.width = 16;
    let mut other = options(&data, &dir.path().join("other"), wider);
    other.init_from = Some(first.clone());
    let err = trainer::train(&other, &mut LogObserver, &stop).unwrap_err().to_string();
    assert!(
        err.contains("first") && err.contains("width 8") && err.contains("width 16"),
        "{err}"
    );
    let mut nowhere = options(&data, &dir.path().join("nowhere"), small_config(1));
    nowhere.init_from = Some(dir.path().join("no-such-run"));
    let err = trainer::train(&nowhere, &mut LogObserver, &stop)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-run"), "{err}");
}

/// Starting from a run on other classes (what `--init-from models/scn-ferplus.onnx` does for a
/// FER2013 run): the classes both have keep their classifier, so the network answers them at
/// once, far better than a fresh one.
#[test]
fn a_run_on_fewer_classes_starts_from_the_classes_it_shares() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = three_clean_classes(dir.path(), 8, 4);
    let stop = AtomicBool::new(false);
    let first = dir.path().join("first");
    trainer::train(&options(&data, &first, small_config(8)), &mut LogObserver, &stop).unwrap();

    // The same images without the middle class: two of the first run's three classes.
    let fewer = dir.path().join("fewer");
    synthetic::copy_without_class(&data, &fewer, scn_train::data::Expression::ALL[1]).unwrap();
    let still = still_config();
    let mut carried = options(&fewer, &dir.path().join("carried"), still.clone());
    carried.init_from = Some(first.clone());
    let carried = trainer::train(&carried, &mut LogObserver, &stop).unwrap();
    let fresh = trainer::train(
        &options(&fewer, &dir.path().join("fresh"), still),
        &mut LogObserver,
        &stop,
    )
    .unwrap();
    let (carried, fresh) = (
        carried.last.unwrap().validation.unwrap(),
        fresh.last.unwrap().validation.unwrap(),
    );
    assert!(
        carried.accuracy >= 0.99 && carried.loss < fresh.loss / 2.0,
        "carried over: {:.3} accuracy, loss {:.3}; fresh: {:.3}, loss {:.3}",
        carried.accuracy,
        carried.loss,
        fresh.accuracy,
        fresh.loss
    );
}

#[test]
fn relabeling_cures_label_noise() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 4,
        train_per_class: 120,
        test_per_class: 40,
        size: 32,
        noise: 0.4,
        seed: 11,
    };
    let mislabeled = synthetic::generate(&data, &spec).unwrap();
    let record = dir.path().join("flips.csv");
    synthetic::write_flip_record(&record, &mislabeled).unwrap();
    let stop = AtomicBool::new(false);

    let mut config = small_config(14);
    config.batch_size = 32;
    config.schedule = Schedule::Exponential { gamma: 0.8 };
    config.relabel.as_mut().unwrap().start_epoch = 5;
    let mut scn = options(&data, &dir.path().join("scn"), config.clone());
    scn.noise_record = Some(record.clone());
    let t = std::time::Instant::now();
    let cured = trainer::train(&scn, &mut Print, &stop).unwrap();
    eprintln!("scn: {:?}", t.elapsed());

    config.baseline = true;
    let mut base = options(&data, &dir.path().join("baseline"), config);
    base.noise_record = Some(record);
    let baseline = trainer::train(&base, &mut Print, &stop).unwrap();

    let last = cured.last.unwrap();
    let (restored, flipped) = (last.noise_restored.unwrap(), last.noise_flipped.unwrap());
    let scn_acc = last.validation.unwrap().accuracy;
    let base_last = baseline.last.unwrap();
    let base_acc = base_last.validation.unwrap().accuracy;
    eprintln!("restored {restored}/{flipped}; clean test accuracy: SCN {scn_acc:.3}, baseline {base_acc:.3}");
    assert_eq!(base_last.noise_restored, Some(0), "the baseline never relabels");
    assert_eq!(base_last.noise_wrong, Some(flipped));
    assert!(
        base_last.relabeled_to.iter().all(|&n| n == 0),
        "{:?}",
        base_last.relabeled_to
    );
    assert_eq!(last.relabeled_to.len(), 4);
    assert_eq!(last.relabeled_to.iter().sum::<usize>(), last.relabeled_total);
    assert!(base_last.noise_attention.is_none(), "the baseline weighs every image 1");
    let wrong = last.noise_wrong.unwrap();
    let attention = last.noise_attention.clone().unwrap();
    eprintln!("attention in the last epoch: {attention:?}");
    assert_eq!(attention.seen, 480, "every image trains each epoch");
    // The labels wrong at the last epoch's start: relabeling changes a few within it.
    assert!(
        attention.wrong_seen.abs_diff(wrong) <= 10,
        "{} against {wrong}",
        attention.wrong_seen
    );
    // What the flipped images were answered with, SCN's and the baseline's alike.
    for (name, fit) in [
        ("SCN", last.noise_fit.clone()),
        ("baseline", base_last.noise_fit.clone()),
    ] {
        let fit = fit.unwrap();
        eprintln!("{name}'s answers in the last epoch: {fit:?}");
        assert_eq!(
            fit.flipped_seen, flipped,
            "{name}: every flipped image trains each epoch"
        );
        assert_eq!(fit.flipped_seen + fit.others_seen, 480, "{name}");
        assert!(
            fit.flipped_as_noisy + fit.flipped_as_clean <= fit.flipped_seen,
            "{name}"
        );
        assert!(fit.others_right <= fit.others_seen, "{name}");
    }
    let (scn_fit, base_fit) = (last.noise_fit.unwrap(), base_last.noise_fit.unwrap());
    assert!(
        scn_fit.flipped_as_noisy < base_fit.flipped_as_noisy,
        "SCN answered {} flipped images with their wrong label, the baseline {}",
        scn_fit.flipped_as_noisy,
        base_fit.flipped_as_noisy
    );
    eprintln!("wrong training labels: {flipped} -> {wrong}");
    assert!(
        wrong < flipped,
        "relabeling left {wrong} wrong labels of {flipped} flipped"
    );
    assert!(
        restored * 2 > flipped,
        "relabeling restored only {restored} of {flipped} flipped labels"
    );
    assert!(
        scn_acc > base_acc,
        "SCN {scn_acc} does not beat the baseline {base_acc}"
    );
}

/// The GPU code path, on whatever wgpu adapter exists (in CI: Mesa's lavapipe, a software
/// Vulkan driver from `mesa-vulkan-drivers`). Two steps of a tiny model, checked against flex.
#[test]
#[cfg(feature = "wgpu")]
fn two_steps_on_wgpu() {
    let _serial = serial();
    let found = scn_train::device::adapters();
    assert!(
        !found.is_empty(),
        "no Vulkan adapter: install mesa-vulkan-drivers (see .ci/setup)"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 2,
        train_per_class: 4,
        test_per_class: 2,
        size: 32,
        noise: 0.0,
        seed: 2,
    };
    synthetic::generate(&data, &spec).unwrap();
    let mut config = small_config(1);
    config.batch_size = 4;
    config.width = 4;
    let mut run = options(&data, &dir.path().join("wgpu"), config.clone());
    run.device = DeviceChoice::Wgpu;
    run.max_steps = Some(2);
    let stop = AtomicBool::new(false);
    let t = std::time::Instant::now();
    let gpu = trainer::train(&run, &mut LogObserver, &stop).unwrap();
    eprintln!("wgpu ({}): {:?}", found[0], t.elapsed());
    let mut cpu_run = options(&data, &dir.path().join("flex"), config);
    cpu_run.max_steps = Some(2);
    let cpu = trainer::train(&cpu_run, &mut LogObserver, &stop).unwrap();
    let (g, c) = (gpu.last.unwrap(), cpu.last.unwrap());
    assert!(g.loss.is_finite() && c.loss.is_finite());
    assert!(dir.path().join("wgpu/checkpoints/epoch-0001/model.bpk").is_file());

    // The same weights give the same outputs on both backends.
    use burn::prelude::*;
    use scn_train::model::{ResNetConfig, ScnConfig};
    let flex = Device::flex();
    let model = ScnConfig::new(3)
        .with_backbone(ResNetConfig::new().with_in_channels(1).with_width(4))
        .init(&flex)
        .valid();
    let x = Tensor::<4>::random([2, 1, 32, 32], burn::tensor::Distribution::Normal(0.0, 1.0), &flex);
    let on_flex = model.forward(x.clone());
    let gpu = Device::wgpu(DeviceKind::DefaultDevice);
    let on_gpu = model.to_device(&gpu).forward(x.to_device(&gpu));
    let (a, b) = (
        on_flex.logits.into_data().try_to_vec::<f32>().unwrap(),
        on_gpu.logits.into_data().try_to_vec::<f32>().unwrap(),
    );
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-4, "flex {a:?} vs wgpu {b:?}");
    }
}

#[test]
fn a_diverging_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 2,
        train_per_class: 16,
        test_per_class: 2,
        size: 32,
        noise: 0.0,
        seed: 4,
    };
    synthetic::generate(&data, &spec).unwrap();
    let out = dir.path().join("run");
    let stop = AtomicBool::new(false);
    trainer::train(&options(&data, &out, small_config(1)), &mut LogObserver, &stop).unwrap();
    // Continue with an input scale that overflows to infinity: the loss turns NaN at once.
    let state_path = out.join("checkpoints/epoch-0001/state.json");
    let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["config"]["input"]["std"] = serde_json::json!([1e-40]);
    std::fs::write(&state_path, serde_json::to_string(&state).unwrap()).unwrap();
    let mut resume = options(&data, &out, small_config(1));
    resume.resume = true;
    resume.resume_epochs = Some(2);
    let err = trainer::train(&resume, &mut LogObserver, &stop).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, scn_train::Error::Diverged { epoch: 2, step: 1, .. }),
        "{text}"
    );
    assert!(
        text.contains("the last good checkpoint is") && text.contains("epoch-0001"),
        "{text}"
    );
    assert!(out.join("checkpoints/epoch-0001/model.bpk").is_file());
    assert!(
        !out.join("checkpoints/epoch-0002").exists(),
        "nothing is saved from a diverged epoch"
    );
}
