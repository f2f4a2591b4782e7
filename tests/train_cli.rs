//! `scn train` end to end: the binary trains on a generated dataset, writes checkpoints,
//! metrics and plots, refuses to overwrite a run, and resumes one.
#![cfg(feature = "train")]

mod common;

use common::{fails_naming, scn, tiny_train_flags};

use scn::train::data::synthetic::{self, SyntheticSpec};
use scn::train::distill::TeacherTargets;

#[test]
fn trains_resumes_and_draws() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 3,
        train_per_class: 12,
        test_per_class: 4,
        size: 32,
        noise: 0.0,
        seed: 9,
    };
    synthetic::generate(&data, &spec).unwrap();
    let out = dir.path().join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["train", d, "-o", o, "--epochs", "1"];
    args.extend(tiny_train_flags("32"));
    args.extend(["--affine", "12", "--relabel-prior", "--label-smoothing", "0.1"]);
    let first = scn(&args);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("trained 1 epochs"), "{stdout}");
    for file in [
        "curves.png",
        "confusion.png",
        "metrics.jsonl",
        "config.json",
        "best/model.bpk",
        "checkpoints/epoch-0001/state.json",
    ] {
        assert!(out.join(file).is_file(), "{file} is missing");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["augment"]["affine"]["degrees"], 12.0, "{config}");
    assert_eq!(config["relabel"]["prior_correction"], true, "{config}");
    assert_eq!(config["label_smoothing"], 0.1, "{config}");
    let curves = image::open(out.join("curves.png")).unwrap();
    assert!(curves.width() > 500);

    let again = scn(&args);
    fails_naming(&again, &["--resume continues it"]);

    // --keep-checkpoints 1 keeps only the newest (the default would keep both).
    let resumed = scn(&[
        "train",
        d,
        "-o",
        o,
        "--resume",
        "--epochs",
        "2",
        "--device",
        "flex",
        "--keep-checkpoints",
        "1",
    ]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(out.join("checkpoints/epoch-0002/state.json").is_file());
    assert!(!out.join("checkpoints/epoch-0001").exists());
    // A CPU run starts no GPU driver, so none prints its notes ("error: XDG_RUNTIME_DIR ...").
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(!stderr.to_lowercase().contains("error"), "{stderr}");
    assert!(
        !stderr.contains("checkpoint's settings"),
        "a bare --resume warns of nothing: {stderr}"
    );
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);

    // A setting given on a resume that the checkpoint overrides is named, not silently dropped,
    // even where it is the preset's own value (width 64: the run was trained at width 4).
    let changed = scn(&[
        "train", d, "-o", o, "--resume", "--lr", "0.5", "--width", "64", "--device", "flex",
    ]);
    let stderr = String::from_utf8_lossy(&changed.stderr);
    assert!(changed.status.success(), "{stderr}");
    assert!(
        stderr.contains("checkpoint's settings") && stderr.contains("optimizer.lr") && stderr.contains("given 0.5"),
        "{stderr}"
    );
    assert!(stderr.contains("width 4 (given 64)"), "{stderr}");
}

#[test]
fn the_baseline_draws_no_attention_or_relabeling_panels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 2,
        train_per_class: 8,
        test_per_class: 2,
        size: 32,
        noise: 0.0,
        seed: 3,
    };
    synthetic::generate(&data, &spec).unwrap();
    let d = data.to_str().unwrap();
    let height = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["train", d, "-o", out.to_str().unwrap(), "--epochs", "1"];
        args.extend(tiny_train_flags("32"));
        args.extend(extra);
        let run = scn(&args);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        image::open(out.join("curves.png")).unwrap().height()
    };
    let scn_rows = height("scn", &[]);
    let baseline_rows = height("baseline", &["--baseline"]);
    assert!(
        baseline_rows * 3 < scn_rows * 2,
        "one row of panels ({baseline_rows} px) instead of two ({scn_rows} px)"
    );

    // Resuming a finished run draws its plots again (here over a stale two-row picture).
    let baseline = dir.path().join("baseline");
    std::fs::copy(dir.path().join("scn/curves.png"), baseline.join("curves.png")).unwrap();
    let resumed = scn(&[
        "train",
        d,
        "-o",
        baseline.to_str().unwrap(),
        "--resume",
        "--device",
        "flex",
    ]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let redrawn = image::open(baseline.join("curves.png")).unwrap().height();
    assert_eq!(redrawn, baseline_rows, "the stale plot was not redrawn");
}

#[test]
fn bad_settings_are_reported_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let out = scn(&["train", dir.path().to_str().unwrap(), "-o", "x", "--channels", "2"]);
    fails_naming(&out, &["--channels must be 1 or 3"]);
    // clap refuses it and lists the choices.
    let out = scn(&["train", dir.path().to_str().unwrap(), "-o", "x", "--device", "tpu"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("'tpu'") && err.contains("auto, wgpu, flex"), "{err}");
    // Out-of-range settings, each refused with the config key and the range.
    for (flag, value, message) in [
        ("--affine", "200", "augment.affine.degrees must be within 0..180"),
        ("--label-smoothing", "1", "label_smoothing must be in [0, 1), got 1"),
        ("--backbone-lr-scale", "2", "backbone_lr_scale must be in [0, 1], got 2"),
    ] {
        let out = scn(&["train", dir.path().to_str().unwrap(), "-o", "x", flag, value]);
        fails_naming(&out, &[message]);
    }
}

/// SCN on dlib's face-pretrained network: trains from the committed face-api weights (grey
/// stem), exports, and the runtime loads the model with dlib's input normalisation.
#[test]
fn the_face_backbone_trains_from_dlibs_weights_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 3,
        train_per_class: 4,
        test_per_class: 2,
        size: 48,
        noise: 0.0,
        seed: 3,
    };
    synthetic::generate(&data, &spec).unwrap();
    let out = dir.path().join("run");
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/face-api/face_recognition_model-weights_manifest.json");
    let (d, o, m) = (
        data.to_str().unwrap(),
        out.to_str().unwrap(),
        manifest.to_str().unwrap(),
    );
    // A small run on grey 104 px faces; `then` is what this run adds (its backbone included).
    let small_run = |data: &str, out: &str, then: &[&str]| {
        let mut args = vec![
            "train",
            data,
            "-o",
            out,
            "--epochs",
            "1",
            "--device",
            "flex",
            "--input-size",
            "104",
            "--channels",
            "1",
            "--batch-size",
            "4",
            "--lr",
            "0.0001",
            "--no-relabel",
        ];
        args.extend(then);
        scn(&args)
    };
    let run = small_run(
        d,
        o,
        &["--backbone", "dlib", "--pretrained", m, "--backbone-lr-scale", "0.1"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("117") && stderr.contains("RGB stem summed to grey"),
        "{stderr}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["backbone"], "dlib");
    assert_eq!(config["backbone_lr_scale"], 0.1, "{config}");
    let mean = config["input"]["mean"][0].as_f64().unwrap();
    assert!((mean - 0.4498).abs() < 1e-3, "dlib's normalisation: {config}");

    let model = dir.path().join("face.onnx");
    let export = scn(&["export", o, "-o", model.to_str().unwrap(), "--face-template", "fer2013"]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let image = data.join("test").read_dir().unwrap().next().unwrap().unwrap().path();
    let image = image.read_dir().unwrap().next().unwrap().unwrap().path();
    let predict = scn(&[
        "predict",
        "-m",
        model.to_str().unwrap(),
        "--json",
        image.to_str().unwrap(),
    ]);
    assert!(predict.status.success(), "{}", String::from_utf8_lossy(&predict.stderr));
    let line: serde_json::Value = serde_json::from_slice(&predict.stdout).unwrap();
    assert_eq!(line["faces"].as_array().unwrap().len(), 1, "{line}");

    // The exported file is enough to fine-tune from (what `--init-from models/scn-ferplus.onnx`
    // does); a run that builds another network is refused, naming the file.
    let tuned = dir.path().join("tuned");
    let t = tuned.to_str().unwrap();
    // (The width, which dlib's network does not have, may differ.)
    let init = ["--init-from", model.to_str().unwrap()];
    let run = small_run(d, t, &[&["--backbone", "dlib", "--width", "32"][..], &init].concat());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("starting from") && stderr.contains("face.onnx (") && stderr.contains(" tensors"),
        "{stderr}"
    );
    let state = scn::train::run_state::read_state(&tuned.join("best")).unwrap();
    assert_eq!(state.started_from.as_deref(), model.to_str());
    // Even with --force over the earlier run, which stays as it was (no --backbone: ResNet-18).
    let other = small_run(d, t, &[&["--force"][..], &init].concat());
    fails_naming(
        &other,
        &["face.onnx", "trained another network", "Dlib", "Resnet18", "--backbone"],
    );
    assert!(tuned.join("best").join("state.json").is_file() && tuned.join("config.json").is_file());

    // Data of other classes (the same faces without the first class): the classes both have
    // keep the file's classifier.
    let fewer = dir.path().join("fewer");
    synthetic::copy_without_class(&data, &fewer, scn::train::data::Expression::ALL[0]).unwrap();
    let moved = dir.path().join("moved");
    let run = small_run(
        fewer.to_str().unwrap(),
        moved.to_str().unwrap(),
        &[&["--backbone", "dlib"][..], &init].concat(),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("face.onnx (") && stderr.contains("the classifier of 2 of this run's 2 classes (none is new"),
        "{stderr}"
    );
}

/// kill -9 at moments spread over whole runs, again and again: every time the newest checkpoint
/// loads, at most the epoch in progress is lost, and `--resume` finishes the run with one
/// metrics line per epoch. `SCN_KILL_TRIALS` sets the number of kills (RELIABILITY.md: 100).
#[test]
fn runs_killed_at_any_moment_resume_and_lose_at_most_one_epoch() {
    const EPOCHS: usize = 3;
    let trials: usize = std::env::var("SCN_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 3,
        train_per_class: 8,
        test_per_class: 3,
        size: 32,
        noise: 0.0,
        seed: 4,
    };
    synthetic::generate(&data, &spec).unwrap();
    let d = data.to_str().unwrap();
    let epochs = EPOCHS.to_string();
    let train_args = |out: &str, extra: &[&'static str]| {
        let mut args = vec!["train", d, "-o", out, "--epochs", &epochs];
        args.extend(tiny_train_flags("32"));
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let spawn = |args: &[String]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_scn"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let epochs_in = |out: &std::path::Path| -> Vec<u64> {
        std::fs::read_to_string(out.join("metrics.jsonl"))
            .map(|t| {
                t.lines()
                    .map(|l| {
                        serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                            .as_u64()
                            .unwrap()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };

    // One whole run, timed: the kills fall anywhere inside such a run.
    let whole = dir.path().join("whole");
    let started = std::time::Instant::now();
    assert!(
        spawn(&train_args(whole.to_str().unwrap(), &[]))
            .wait()
            .unwrap()
            .success()
    );
    let span = started.elapsed().as_secs_f64();

    let (mut before_first_checkpoint, mut epochs_lost) = (0, 0);
    for trial in 0..trials {
        let out = dir.path().join(format!("run-{trial}"));
        let o = out.to_str().unwrap();
        let mut child = spawn(&train_args(o, &[]));
        // Spread over the run by a fixed low-discrepancy sequence, so that failures reproduce.
        let at = span * ((trial as f64 * 0.618_034 + 0.05) % 1.0);
        std::thread::sleep(std::time::Duration::from_secs_f64(at));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let recorded = epochs_in(&out);
        let latest = std::fs::read_to_string(out.join("checkpoints/latest")).ok();
        let checkpointed = latest.as_ref().map_or(0, |name| {
            let state =
                scn::train::run_state::read_state(&out.join("checkpoints").join(name.trim())).unwrap_or_else(|e| {
                    panic!("trial {trial} (kill at {at:.2}s): the newest checkpoint does not load: {e}")
                });
            state.epoch
        });
        assert!(
            recorded.len() <= checkpointed + 1,
            "trial {trial}: {} epochs recorded, checkpoint at {checkpointed}",
            recorded.len()
        );
        epochs_lost += recorded.len().saturating_sub(checkpointed);
        if latest.is_none() {
            // Killed before its first epoch ended: --resume starts it over.
            before_first_checkpoint += 1;
        }
        let resumed = scn(&train_args(o, &["--resume"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>());
        assert!(
            resumed.status.success(),
            "trial {trial} (kill at {at:.2}s): {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_eq!(
            epochs_in(&out),
            (1..=EPOCHS as u64).collect::<Vec<_>>(),
            "trial {trial}"
        );
        assert!(out.join("best/state.json").is_file(), "trial {trial}: no best model");
    }
    eprintln!(
        "{trials} kills over {span:.1} s runs: all resumed; {before_first_checkpoint} before the first checkpoint, \
         {epochs_lost} finished epoch(s) lost in all"
    );
}

/// A disk that fills up while a run trains, on a real small filesystem (a tmpfs; skipped where
/// this process may not mount one): the checkpoint being written fails with an error that names
/// it and says the disk is full, no temporary file is left, the previous checkpoint still loads,
/// and once space is freed `--resume` finishes the run.
#[test]
fn a_disk_that_fills_during_a_run_keeps_the_last_checkpoint() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=80m", "tmpfs"])
        .arg(&disk)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs here (not root?): the full-disk test is skipped");
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&disk);

    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 3,
        train_per_class: 24,
        test_per_class: 3,
        size: 32,
        noise: 0.0,
        seed: 6,
    };
    synthetic::generate(&data, &spec).unwrap();
    let out = disk.join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["train", d, "-o", o, "--epochs", "6"];
    args.extend(tiny_train_flags("32"));
    let child = Command::new(env!("CARGO_BIN_EXE_scn"))
        .args(&args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first checkpoint is in place, fill the disk to its last 64 KB.
    let started = std::time::Instant::now();
    while !out.join("checkpoints/latest").is_file() {
        assert!(started.elapsed().as_secs() < 120, "no first checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let filler = disk.join("filler");
    fill(&filler, 64 << 10);

    let failed = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "the run must stop on the full disk: {stderr}"
    );
    assert!(
        stderr.contains("No space left on device") && stderr.contains(o),
        "the error names the file and the cause: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!(
        "the run on the full disk said: {}",
        stderr.lines().last().unwrap_or_default()
    );
    let leftovers: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let latest = std::fs::read_to_string(out.join("checkpoints/latest")).unwrap();
    let state = scn::train::run_state::read_state(&out.join("checkpoints").join(latest.trim())).unwrap();
    assert!((1..6).contains(&state.epoch), "checkpoint at epoch {}", state.epoch);

    std::fs::remove_file(&filler).unwrap();
    let mut resume = args.clone();
    resume.push("--resume");
    let resumed = scn(&resume);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 6);

    // `scn export` onto the full disk: an error naming the file, and no half-written model.
    fill(&filler, 4 << 10);
    let model = disk.join("model.onnx");
    let m = model.to_str().unwrap();
    let export = scn(&["export", o, "-o", m, "--face-template", "fer2013"]);
    fails_naming(&export, &["model.onnx", "No space left on device"]);
    let leftovers: Vec<_> = walk(&disk)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(!model.exists() && leftovers.is_empty(), "{leftovers:?}");
}

/// Fills the filesystem of `filler` (a new file) up to its last `spare` bytes.
fn fill(filler: &std::path::Path, spare: u64) {
    let mut f = std::fs::File::create(filler).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    let _ = f.sync_all();
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(spare)).unwrap();
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A run killed between its checkpoint and best/ (possible before best/ was written first):
/// resuming writes the best model from the checkpoint that names itself the best.
#[test]
fn a_resumed_run_restores_a_best_model_its_checkpoint_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_class_data(dir.path(), 8);
    let out = dir.path().join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["train", d, "-o", o, "--epochs", "1"];
    args.extend(tiny_train_flags("32"));
    assert!(scn(&args).status.success());
    std::fs::remove_dir_all(out.join("best")).unwrap();
    args.push("--resume");
    let resumed = scn(&args);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("best/ does not hold epoch 1"));
    let best = scn::train::run_state::read_state(&out.join("best")).unwrap();
    assert_eq!(best.epoch, 1);
    assert!(out.join("best/model.bpk").is_file());
}

/// A run killed between its last checkpoint and metrics.jsonl (the kill trials above found one)
/// gets the file back from the checkpoint's history when it is resumed, even with no epoch left
/// to train.
#[test]
fn a_resumed_run_restores_the_metrics_its_checkpoint_holds() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_class_data(dir.path(), 12);
    let out = dir.path().join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["train", d, "-o", o, "--epochs", "2"];
    args.extend(tiny_train_flags("32"));
    assert!(scn(&args).status.success());
    let metrics = out.join("metrics.jsonl");
    let full = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(full.lines().count(), 2);
    let first = full.lines().next().unwrap().to_string() + "\n";
    std::fs::write(&metrics, first).unwrap();
    args.push("--resume");
    let resumed = scn(&args);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let epochs: Vec<u64> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(epochs, vec![1, 2]);
}

/// A run stopped before its first checkpoint (only its `config.json` written) resumes from
/// epoch 1 when the same command is given again with `--resume`, `--init-from` included; other
/// settings are refused, naming the run's settings file and each setting that differs; a second
/// `--resume` continues from the checkpoint that the first one wrote.
#[test]
fn a_run_stopped_in_its_first_epoch_resumes_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_class_data(dir.path(), 3);
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let (d, f, s) = (
        data.to_str().unwrap(),
        first.to_str().unwrap(),
        second.to_str().unwrap(),
    );
    let mut args = vec!["train", d, "-o", f, "--epochs", "1"];
    args.extend(tiny_train_flags("32"));
    assert!(scn(&args).status.success());
    // What a kill during the first epoch of a warm restart from `first` leaves behind.
    std::fs::create_dir(&second).unwrap();
    std::fs::copy(first.join("config.json"), second.join("config.json")).unwrap();
    std::fs::write(second.join("metrics.jsonl"), "{\"epoch\": 1}\n").unwrap();

    let other = scn(&["train", d, "-o", s, "--resume", "--device", "flex"]);
    fails_naming(
        &other,
        &[
            "before its first checkpoint",
            "second/config.json",
            "width 4 there, 64 here",
            "--force",
        ],
    );

    let mut again = vec!["train", d, "-o", s, "--epochs", "1", "--resume", "--init-from", f];
    again.extend(tiny_train_flags("32"));
    let resumed = scn(&again);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(stderr.contains("starting it over from epoch 1"), "{stderr}");
    let state = scn::train::run_state::read_state(&second.join("best")).unwrap();
    assert_eq!(state.epoch, 1);
    assert_eq!(state.started_from.as_deref(), Some(f));
    let metrics = std::fs::read_to_string(second.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 1, "{metrics}");

    let more = scn(&[
        "train",
        d,
        "-o",
        s,
        "--resume",
        "--epochs",
        "2",
        "--init-from",
        f,
        "--device",
        "flex",
    ]);
    let stderr = String::from_utf8_lossy(&more.stderr);
    assert!(more.status.success(), "{stderr}");
    assert!(stderr.contains("resuming from"), "{stderr}");
    let metrics = std::fs::read_to_string(second.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
}

/// A two-class synthetic dataset of 32 px faces (6 training and 2 test images a class) in
/// `dir/data`.
fn two_class_data(dir: &std::path::Path, seed: u64) -> std::path::PathBuf {
    let data = dir.join("data");
    let spec = SyntheticSpec {
        classes: 2,
        train_per_class: 6,
        test_per_class: 2,
        size: 32,
        noise: 0.0,
        seed,
    };
    synthetic::generate(&data, &spec).unwrap();
    data
}

/// `--distill`: an exported model teaches a new run; its probabilities are kept in the run
/// folder, so the run resumes without the teacher.
#[test]
fn a_run_distills_from_an_exported_model_and_resumes_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_class_data(dir.path(), 21);
    let d = data.to_str().unwrap();
    let teacher_run = dir.path().join("teacher");
    let mut args = vec!["train", d, "-o", teacher_run.to_str().unwrap(), "--epochs", "1"];
    args.extend(tiny_train_flags("32"));
    let trained = scn(&args);
    assert!(trained.status.success(), "{}", String::from_utf8_lossy(&trained.stderr));
    let teacher = dir.path().join("teacher.onnx");
    let t = teacher.to_str().unwrap();
    let export = scn(&[
        "export",
        teacher_run.to_str().unwrap(),
        "-o",
        t,
        "--face-template",
        "fer2013",
    ]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));

    let student = dir.path().join("student");
    let s = student.to_str().unwrap();
    let mut args = vec!["train", d, "-o", s, "--epochs", "1"];
    args.extend(tiny_train_flags("32"));
    args.extend(["--distill", t, "--distill-weight", "0.3", "--distill-temperature", "2"]);
    let run = scn(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("distilling from teacher.onnx (SHA-256 "), "{stderr}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(student.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["distill"]["weight"], 0.3, "{config}");
    assert_eq!(config["distill"]["temperature"], 2.0, "{config}");
    assert!(
        config["distill"]["teacher"]
            .as_str()
            .unwrap()
            .starts_with("teacher.onnx (SHA-256 "),
        "{config}"
    );
    // 12 training images of 2 classes, each row a distribution.
    let teacher_rows = |run: &std::path::Path| {
        let targets = TeacherTargets::load(&run.join("teacher.bin"), 12, 2).unwrap();
        (0..12).map(|i| targets.row(i).map(<[f32]>::to_vec)).collect::<Vec<_>>()
    };
    let rows = teacher_rows(&student);
    for row in &rows {
        let row = row.as_ref().expect("every image read");
        assert!(
            (row[0] + row[1] - 1.0).abs() < 1e-5 && row[0] > 0.0 && row[1] > 0.0,
            "{row:?}"
        );
    }

    // --distill twice: the ensemble's rows are the mean of its members', here the same model's.
    let pair = dir.path().join("pair");
    let mut args = vec!["train", d, "-o", pair.to_str().unwrap(), "--epochs", "1"];
    args.extend(tiny_train_flags("32"));
    args.extend([
        "--distill",
        t,
        "--distill",
        t,
        "--distill-weight",
        "0.3",
        "--distill-temperature",
        "2",
    ]);
    let run = scn(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pair.join("config.json")).unwrap()).unwrap();
    let described = config["distill"]["teacher"].as_str().unwrap();
    assert_eq!(described.matches("teacher.onnx (SHA-256 ").count(), 2, "{described}");
    assert!(described.contains(") + teacher.onnx"), "{described}");
    for (mean, single) in teacher_rows(&pair).iter().zip(&rows) {
        let (mean, single) = (mean.as_ref().unwrap(), single.as_ref().unwrap());
        assert!(
            mean.iter().zip(single).all(|(a, b)| (a - b).abs() < 1e-6),
            "{mean:?} {single:?}"
        );
    }

    // An image the teacher cannot read gets no probabilities, and every other image keeps its
    // own: the same run with one training image broken differs from this one in that row only.
    // The first image in name order, so that the batch goes on after it.
    let mut images = walk(&data.join("train"));
    images.sort();
    let broken = images
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "png"))
        .unwrap();
    std::fs::write(&broken, b"not an image").unwrap();
    let again = dir.path().join("again");
    let mut args = vec!["train", d, "-o", again.to_str().unwrap(), "--epochs", "1"];
    args.extend(tiny_train_flags("32"));
    args.extend(["--distill", t, "--distill-weight", "0.3", "--distill-temperature", "2"]);
    let run = scn(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut unread = 0;
    for (row, before) in teacher_rows(&again).iter().zip(&rows) {
        match row {
            None => unread += 1,
            Some(_) => assert_eq!(row, before),
        }
    }
    assert_eq!(unread, 1);

    // Resumed without --distill: the kept probabilities are used, the teacher is not run.
    let resumed = scn(&["train", d, "-o", s, "--resume", "--epochs", "2", "--device", "flex"]);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(!stderr.contains("distilling from"), "{stderr}");
    // Without them and without the teacher it cannot go on, and says what to give.
    std::fs::remove_file(student.join("teacher.bin")).unwrap();
    let lost = scn(&["train", d, "-o", s, "--resume", "--epochs", "3", "--device", "flex"]);
    fails_naming(&lost, &["distill from teacher.onnx", "--distill FILE"]);

    // A file that is no model is named; a weight with no teacher is refused.
    let other = dir.path().join("other");
    let mut args = vec!["train", d, "-o", other.to_str().unwrap(), "--epochs", "1"];
    args.extend(tiny_train_flags("32"));
    let not_a_model = data.join("labels.txt");
    std::fs::write(&not_a_model, "not a model").unwrap();
    let mut bad = args.clone();
    bad.extend(["--distill", not_a_model.to_str().unwrap()]);
    fails_naming(&scn(&bad), &["--distill", "labels.txt"]);
    let mut lonely = args.clone();
    lonely.extend(["--distill-weight", "0.5"]);
    fails_naming(&scn(&lonely), &["--distill MODEL"]);
    // A wrong setting is reported before any teacher is read (here one that is no model).
    let mut wrong = bad.clone();
    wrong.extend(["--distill-weight", "1.5"]);
    let out = scn(&wrong);
    fails_naming(&out, &["distill weight must be in (0, 1], got 1.5"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("labels.txt"));
    // So is a folder that holds an earlier run.
    let mut again = vec![
        "train",
        d,
        "-o",
        s,
        "--epochs",
        "1",
        "--distill",
        not_a_model.to_str().unwrap(),
    ];
    again.extend(tiny_train_flags("32"));
    let out = scn(&again);
    fails_naming(&out, &["holds an earlier run"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("labels.txt"));
}

#[test]
fn a_noise_record_reports_how_the_wrong_labels_are_weighed_and_answered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 3,
        train_per_class: 12,
        test_per_class: 4,
        size: 32,
        noise: 0.3,
        seed: 5,
    };
    let mislabeled = synthetic::generate(&data, &spec).unwrap();
    let record = dir.path().join("flips.csv");
    synthetic::write_flip_record(&record, &mislabeled).unwrap();
    let (d, r) = (data.to_str().unwrap(), record.to_str().unwrap());
    for baseline in [false, true] {
        let out = dir.path().join(if baseline { "baseline" } else { "scn" });
        let o = out.to_str().unwrap();
        let mut args = vec!["train", d, "-o", o, "--epochs", "1", "--noise-record", r];
        args.extend(tiny_train_flags("32"));
        if baseline {
            args.push("--baseline");
        }
        let run = scn(&args);
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(run.status.success(), "{log}");
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
        let attention = &first["noise_attention"];
        // What the flipped images were answered with: for SCN and the baseline alike.
        assert!(log.contains("flipped images answered with their wrong label"), "{log}");
        let fit = &first["noise_fit"];
        assert_eq!(fit["flipped_seen"].as_u64(), first["noise_flipped"].as_u64(), "{first}");
        let answered = fit["flipped_as_noisy"].as_u64().unwrap() + fit["flipped_as_clean"].as_u64().unwrap();
        assert!(answered <= fit["flipped_seen"].as_u64().unwrap(), "{first}");
        if baseline {
            // Every weight is 1: nothing to compare.
            assert!(attention.is_null(), "{first}");
            assert!(!log.contains("wrong labels weigh"), "{log}");
            continue;
        }
        assert!(log.contains("wrong labels weigh"), "{log}");
        assert!(log.contains("in the low groups (chance"), "{log}");
        let flipped = first["noise_flipped"].as_u64().unwrap();
        assert!(flipped > 0, "{first}");
        // No relabeling in the first epoch: the wrong labels are the flips.
        assert_eq!(attention["wrong_seen"].as_u64(), Some(flipped), "{first}");
        let auroc = attention["auroc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&auroc), "{first}");
        assert!(attention["seen"].as_u64().unwrap() > flipped, "{first}");
    }
    // The two runs side by side: a table with a line each and their curves as a PNG.
    let png = dir.path().join("compare.png");
    let (a, b) = (
        dir.path().join("scn"),
        dir.path().join("baseline").join("metrics.jsonl"),
    );
    let out = scn(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("scn ") || l.starts_with("baseline "))
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(image::open(&png).is_ok_and(|i| i.width() > 500), "{}", png.display());
    // A file that is not a run's metrics is named with its line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"epoch\": 1}\n").unwrap();
    fails_naming(
        &scn(&["compare", bad.to_str().unwrap(), "-o", png.to_str().unwrap()]),
        &["bad.jsonl:1"],
    );
}
