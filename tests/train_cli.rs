//! `scn train` end to end: the binary trains on a generated dataset, writes checkpoints,
//! metrics and plots, refuses to overwrite a run, and resumes one.
#![cfg(feature = "train")]

mod common;

use common::{fails_naming, scn, tiny_train_flags};

use scn::train::data::synthetic::{self, SyntheticSpec};

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
    args.extend(["--affine", "12", "--relabel-prior"]);
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
    let curves = image::open(out.join("curves.png")).unwrap();
    assert!(curves.width() > 500);

    let again = scn(&args);
    fails_naming(&again, &["--resume continues it"]);

    let resumed = scn(&["train", d, "-o", o, "--resume", "--epochs", "2", "--device", "flex"]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    // A CPU run starts no GPU driver, so none prints its notes ("error: XDG_RUNTIME_DIR ...").
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(!stderr.to_lowercase().contains("error"), "{stderr}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
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
    let out = scn(&["train", dir.path().to_str().unwrap(), "-o", "x", "--affine", "200"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("augment.affine.degrees must be within 0..180"));
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
    let run = scn(&[
        "train",
        d,
        "-o",
        o,
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
        "--backbone",
        "dlib",
        "--pretrained",
        m,
        "--lr",
        "0.0001",
        "--no-relabel",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("117") && stderr.contains("RGB stem summed to grey"),
        "{stderr}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["backbone"], "dlib");
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
}
