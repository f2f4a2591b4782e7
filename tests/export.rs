//! The bridge from training to the runtime: a burn model exported to ONNX gives the same
//! outputs in tract (the runtime) and in onnxruntime as in burn, at any batch size, with
//! BatchNorm folded or kept; the file passes `onnx.checker` and carries the metadata.
#![cfg(feature = "train")]

mod common;

use std::path::Path;
use std::process::Command;

use scn::classifier::{Classifier, ModelOverrides};
use scn::train::burn::prelude::*;
use scn::train::burn::tensor::Distribution;
use scn::train::data::input::InputConfig;
use scn::train::export;
use scn::train::metadata::{FaceTemplate, ModelMetadata};
use scn::train::model::{ResNetConfig, Scn, ScnConfig};

const SIZE: usize = 32;
const CLASSES: usize = 5;

/// A small SCN whose BatchNorm running statistics are not the initial ones (a few forward passes
/// in training mode move them), so that folding has something to fold.
fn config() -> ScnConfig {
    ScnConfig::new(CLASSES).with_backbone(ResNetConfig::new().with_in_channels(1).with_width(8))
}

fn trained_looking_model() -> Scn {
    let device = Device::flex();
    device.seed(7);
    let ad = device.clone().autodiff();
    let model: Scn = config().init(&ad);
    for _ in 0..3 {
        let x = Tensor::<4>::random([4, 1, SIZE, SIZE], Distribution::Normal(0.3, 1.5), &ad);
        let _ = model.forward(x);
    }
    model.valid()
}

fn metadata() -> ModelMetadata {
    ModelMetadata {
        classes: ["neutral", "happiness", "surprise", "sadness", "anger"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        input: InputConfig::grey(SIZE as u32),
        face_template: FaceTemplate::fer2013(),
        alpha_percentiles: (0..=100).map(|i| 0.4 + 0.005 * i as f32).collect(),
        class_prior: vec![0.4, 0.3, 0.15, 0.1, 0.05],
        dataset: "test".into(),
        validation: None,
        test: None,
        training: serde_json::json!({"baseline": false}),
    }
}

fn burn_outputs(model: &Scn, input: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
    let device = Device::flex();
    let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), [n, 1, SIZE, SIZE]), &device);
    let out = model.forward(x);
    (
        out.logits.into_data().try_to_vec::<f32>().unwrap(),
        out.alpha.into_data().try_to_vec::<f32>().unwrap(),
    )
}

fn random_input(n: usize, seed: u32) -> Vec<f32> {
    // A deterministic pseudo-random batch in the range preprocessing produces.
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n * SIZE * SIZE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn assert_close(what: &str, a: &[f32], b: &[f32], tolerance: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(
        worst <= tolerance,
        "{what}: max difference {worst} > {tolerance}\n{a:?}\n{b:?}"
    );
}

fn export_to(dir: &Path, model: &Scn, fold: bool) -> std::path::PathBuf {
    let path = dir.join(if fold { "folded.onnx" } else { "kept.onnx" });
    let (bytes, folded) = export::to_onnx(model, &config(), &metadata(), fold, &path).unwrap();
    // ResNet-18: stem + 16 block convolutions + 3 downsample convolutions, each with a BatchNorm.
    assert_eq!(folded, if fold { 20 } else { 0 });
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn tract_matches_burn_at_any_batch_size() {
    let model = trained_looking_model();
    let dir = tempfile::tempdir().unwrap();
    for fold in [true, false] {
        let path = export_to(dir.path(), &model, fold);
        let classifier = Classifier::load(&path, &ModelOverrides::default()).unwrap();
        assert!(classifier.has_embedded_metadata());
        assert_eq!(classifier.metadata(), &metadata());
        // Each batch size unprepared (the any-size plan, or faces side by side), then prepared
        // (its own plan, or its faces one by one through the batch-1 plan).
        for (n, prepare) in [(1, false), (3, false), (8, false), (3, true), (8, true)] {
            if prepare {
                classifier.prepare_batch(n).unwrap();
            }
            let input = random_input(n, n as u32 + 1);
            let (logits, alpha) = burn_outputs(&model, &input, n);
            let raw = classifier.run(&input).unwrap();
            assert_eq!((raw.faces, raw.classes), (n, CLASSES));
            assert_close(&format!("logits, batch {n}, fold {fold}"), &raw.scores, &logits, 1e-4);
            assert_close(
                &format!("alpha, batch {n}, fold {fold}"),
                raw.alpha.as_deref().unwrap(),
                &alpha,
                1e-4,
            );
            let predictions = classifier.classify_preprocessed(&input).unwrap();
            for (i, p) in predictions.iter().enumerate() {
                assert!((p.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                let row = &logits[i * CLASSES..(i + 1) * CLASSES];
                let best = (0..CLASSES).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
                assert_eq!(p.class, best);
                let certainty = p.certainty.unwrap();
                assert!((0.0..=1.0).contains(&certainty));
            }
        }
    }
}

#[test]
fn flip_averaging_is_the_mean_of_each_face_and_its_mirror() {
    let model = trained_looking_model();
    let dir = tempfile::tempdir().unwrap();
    let path = export_to(dir.path(), &model, true);
    let mut classifier = Classifier::load(&path, &ModelOverrides::default()).unwrap();
    classifier.set_flip_averaging(true).unwrap();
    let n = 3;
    let input = random_input(n, 21);
    let mirrored: Vec<f32> = input
        .chunks_exact(SIZE)
        .flat_map(|row| row.iter().rev().copied())
        .collect();
    let (logits, alpha) = burn_outputs(&model, &input, n);
    let (logits_m, alpha_m) = burn_outputs(&model, &mirrored, n);
    let mean = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| 0.5 * (x + y)).collect::<Vec<f32>>();
    let raw = classifier.run(&input).unwrap();
    assert_eq!((raw.faces, raw.classes), (n, CLASSES));
    assert_close("averaged logits", &raw.scores, &mean(&logits, &logits_m), 1e-4);
    assert_close(
        "averaged alpha",
        raw.alpha.as_deref().unwrap(),
        &mean(&alpha, &alpha_m),
        1e-4,
    );
    // The mirror image really is another input (so the test can tell the difference).
    assert!(logits.iter().zip(&logits_m).any(|(a, b)| (a - b).abs() > 1e-3));
    assert_eq!(classifier.classify_preprocessed(&input).unwrap().len(), n);
}

/// `--balance TAU`: each class's log-probability moves by `-TAU ln(prior)` (plus the same
/// constant for every class), so the rarest class gains most; 0 restores the model as trained;
/// a model without a prior, or a strength outside 0-2, is refused naming the file.
#[test]
fn balancing_adds_the_log_prior_to_the_scores() {
    let model = trained_looking_model();
    let dir = tempfile::tempdir().unwrap();
    let path = export_to(dir.path(), &model, true);
    let mut classifier = Classifier::load(&path, &ModelOverrides::default()).unwrap();
    let n = 4;
    let input = random_input(n, 33);
    let plain = classifier.classify_preprocessed(&input).unwrap();
    classifier.set_balance(1.0).unwrap();
    assert_eq!(classifier.balance(), 1.0);
    let balanced = classifier.classify_preprocessed(&input).unwrap();
    let prior = metadata().class_prior;
    for (p, b) in plain.iter().zip(&balanced) {
        let shift: Vec<f32> = (0..CLASSES)
            .map(|c| b.probabilities[c].ln() - p.probabilities[c].ln() + prior[c].ln())
            .collect();
        assert!(shift.iter().all(|s| (s - shift[0]).abs() < 1e-3), "{shift:?}");
        assert!(b.probabilities[CLASSES - 1] > p.probabilities[CLASSES - 1]);
        assert_eq!(b.alpha, p.alpha);
    }
    classifier.set_balance(0.0).unwrap();
    assert_eq!(classifier.classify_preprocessed(&input).unwrap(), plain);
    let err = classifier.set_balance(2.5).unwrap_err().to_string();
    assert!(err.contains("kept.onnx") || err.contains("folded.onnx"), "{err}");

    let mut m = metadata();
    m.class_prior.clear();
    let old = dir.path().join("old.onnx");
    std::fs::write(&old, export::to_onnx(&model, &config(), &m, true, &old).unwrap().0).unwrap();
    let mut classifier = Classifier::load(&old, &ModelOverrides::default()).unwrap();
    let err = classifier.set_balance(0.5).unwrap_err().to_string();
    assert!(err.contains("old.onnx") && err.contains("scn.class_prior"), "{err}");
}

#[test]
fn a_baseline_model_has_no_alpha_to_report() {
    let device = Device::flex();
    let config = config().with_baseline(true);
    let model: Scn = config.init(&device);
    let mut m = metadata();
    m.training = serde_json::json!({"baseline": true});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.onnx");
    std::fs::write(&path, export::to_onnx(&model, &config, &m, true, &path).unwrap().0).unwrap();
    let classifier = Classifier::load(&path, &ModelOverrides::default()).unwrap();
    let p = &classifier.classify_preprocessed(&random_input(2, 3)).unwrap()[1];
    assert_eq!((p.alpha, p.certainty), (None, None));
}

/// `python3 tests/onnx_check.py`: onnx.checker and onnxruntime. Skipped (with a message) where
/// python3, onnx or onnxruntime is missing (`.ci/setup` installs them in target/python), except in CI (`CI` set), which installs them.
#[test]
fn the_file_passes_onnx_checker_and_runs_in_onnxruntime() {
    let model = trained_looking_model();
    let dir = tempfile::tempdir().unwrap();
    let path = export_to(dir.path(), &model, true);
    let n = 3;
    let input = random_input(n, 11);
    let raw = dir.path().join("input.f32");
    std::fs::write(&raw, input.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx_check.py");
    let output = Command::new(common::python())
        .arg(&script)
        .arg(&path)
        .arg(&raw)
        .args([n, 1, SIZE, SIZE].map(|v| v.to_string()))
        .output();
    let in_ci = std::env::var_os("CI").is_some();
    let output = match output {
        Ok(o) if o.status.code() == Some(3) && !in_ci => {
            eprintln!("skipped: {}", String::from_utf8_lossy(&o.stderr));
            return;
        }
        Err(e) if !in_ci => {
            eprintln!("skipped: python3 not runnable ({e})");
            return;
        }
        other => other.expect("python3 runs"),
    };
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["inputs"], serde_json::json!(["image"]));
    assert_eq!(result["outputs"], serde_json::json!(["logits", "alpha"]));
    assert_eq!(result["input_shape"][0], "batch", "{result}");
    assert_eq!(result["producer"], "scn");
    for key in [
        "scn.classes",
        "scn.input",
        "scn.face_template",
        "scn.alpha_percentiles",
        "scn.training",
    ] {
        assert!(
            result["metadata"].as_array().unwrap().iter().any(|k| k == key),
            "{key} missing: {result}"
        );
    }
    let floats = |key: &str| -> Vec<f32> {
        result[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let (logits, alpha) = burn_outputs(&model, &input, n);
    assert_close("onnxruntime logits", &floats("logits"), &logits, 1e-4);
    assert_close("onnxruntime alpha", &floats("alpha"), &alpha, 1e-4);
}

/// dlib's face-recognition backbone with its real weights (grey stem), exported: tract and burn
/// agree, at batch 1 and 2, and the file names the backbone in its training settings.
#[test]
fn the_face_backbone_exports_and_tract_matches_burn() {
    use scn::train::model::FaceResNetConfig;
    use scn::train::weights::{Pretrained, load_pretrained};
    const SIDE: usize = 104;
    let device = Device::flex();
    let config = ScnConfig::new(CLASSES).with_face(Some(FaceResNetConfig::new().with_in_channels(1)));
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face-api/face_recognition_model-weights_manifest.json");
    let (model, report) = load_pretrained(
        config.init(&device),
        &Pretrained {
            path: manifest,
            allow_partial: false,
        },
        &device,
    )
    .unwrap();
    assert_eq!((report.applied, report.grey_stem), (117, true), "{}", report.summary());
    assert!(model.backbone.is_none() && model.face.is_some());
    let mut meta = metadata();
    meta.input = InputConfig::grey(SIDE as u32);
    meta.training = serde_json::json!({"backbone": "dlib"});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("face.onnx");
    let (bytes, folded) = export::to_onnx(&model, &config, &meta, true, &path).unwrap();
    assert_eq!(folded, 0, "dlib's affine layers are already in the convolutions");
    std::fs::write(&path, bytes).unwrap();
    let classifier = Classifier::load(&path, &ModelOverrides::default()).unwrap();
    for n in [1, 2] {
        let mut state = 99u32 + n as u32;
        let input: Vec<f32> = (0..n * SIDE * SIDE)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(input.clone(), [n, 1, SIDE, SIDE]), &device);
        let out = model.forward(x);
        let logits = out.logits.into_data().try_to_vec::<f32>().unwrap();
        let alpha = out.alpha.into_data().try_to_vec::<f32>().unwrap();
        let raw = classifier.run(&input).unwrap();
        assert_close(&format!("face backbone logits, batch {n}"), &raw.scores, &logits, 1e-4);
        assert_close(
            &format!("face backbone alpha, batch {n}"),
            raw.alpha.as_deref().unwrap(),
            &alpha,
            1e-4,
        );
    }
}

#[test]
fn the_profile_accounts_for_the_matrix_products_of_every_convolution() {
    let model = trained_looking_model();
    let dir = tempfile::tempdir().unwrap();
    let path = export_to(dir.path(), &model, true);
    let classifier = Classifier::load(&path, &ModelOverrides::default()).unwrap();
    let ops = classifier.profile(1, 2).unwrap();
    assert!(ops.windows(2).all(|w| w[0].ms >= w[1].ms), "slowest first");
    assert!(ops.iter().all(|o| o.nodes > 0 && o.ms >= 0.0));
    let products: Vec<&(String, f64)> = ops.iter().flat_map(|o| &o.products).collect();
    // ResNet-18: stem + 16 block convolutions + 3 downsample convolutions, then the two heads.
    assert!(products.len() >= 20, "{products:?}");
    assert!(
        products
            .iter()
            .all(|(what, _)| what.contains("m:") && what.contains("k:")),
        "{products:?}"
    );
}
