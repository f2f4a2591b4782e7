//! From a training run to the runtime commands: `scn export` writes a model, `scn eval`
//! reproduces the trainer's accuracy with it, `scn predict` classifies images; bad models and
//! missing metadata give clear errors.
#![cfg(feature = "train")]

mod common;

use std::path::Path;

use common::{fails_naming, scn, text};
use prost::Message;
use scn::train::data::synthetic::{self, SyntheticSpec};

/// A trained run on synthetic data with train/val/test splits: (temp dir, data, run).
fn trained_run() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = SyntheticSpec {
        classes: 3,
        train_per_class: 16,
        test_per_class: 6,
        size: 32,
        noise: 0.0,
        seed: 21,
    };
    synthetic::generate(&data, &spec).unwrap();
    // A validation split: the test images under another name (the folder reader takes `val/`).
    copy_dir(&data.join("test"), &data.join("val"));
    let out = dir.path().join("run");
    let mut args = vec![
        "train",
        data.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--epochs",
        "2",
    ];
    args.extend(common::tiny_train_flags("32"));
    args.push("--no-relabel");
    let run = scn(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("test accuracy"), "{}", text(&run.stdout));
    (dir, data, out)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn eval_json(model: &Path, data: &Path, split: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "eval",
        "-m",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--split",
        split,
        "--json",
    ];
    args.extend(extra);
    let out = scn(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn export_eval_and_predict_reproduce_the_trainer() {
    let (dir, data, run) = trained_run();
    let model = dir.path().join("model.onnx");
    let (r, m) = (run.to_str().unwrap(), model.to_str().unwrap());

    // An image-folder dataset does not fix where faces sit: export asks for the template.
    let out = scn(&["export", r, "-o", m]);
    fails_naming(&out, &["--face-template"]);
    assert!(!model.exists());

    let out = scn(&["export", r, "-o", m, "--face-template", "fer2013"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("classes: neutral, happiness, surprise"), "{stdout}");
    assert!(stdout.contains("20 folded"), "{stdout}");
    let again = scn(&["export", r, "-o", m, "--face-template", "fer2013"]);
    assert!(text(&again.stderr).contains("--force"), "{}", text(&again.stderr));

    // The accuracies the trainer recorded for the best epoch, on validation and test.
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("best/state.json")).unwrap()).unwrap();
    let epoch = best["epoch"].as_u64().unwrap() as usize;
    let validation = &best["history"][epoch - 1]["validation"];
    let valid = eval_json(&model, &data, "valid", &[]);
    assert_eq!(valid["accuracy"], validation["accuracy"], "valid split");
    assert_eq!(valid["images"], validation["images"]);
    let test = eval_json(&model, &data, "test", &["--batch-size", "5"]);
    assert_eq!(test["accuracy"], best["test"]["accuracy"], "test split");
    assert_eq!(test["confusion"], best["test"]["confusion"]);
    assert_eq!(test["flip"], false);
    // --flip (each face averaged with its mirror image): same images, recorded in the report.
    let flipped = eval_json(&model, &data, "test", &["--batch-size", "5", "--flip"]);
    assert_eq!(
        (&flipped["images"], &flipped["flip"]),
        (&test["images"], &serde_json::json!(true))
    );
    // --balance (logit adjustment by the exported class prior): recorded; out of range refused.
    let balanced = eval_json(&model, &data, "test", &["--balance", "1"]);
    assert_eq!(
        (&balanced["images"], &balanced["balance"]),
        (&test["images"], &serde_json::json!(1.0))
    );
    let out = scn(&["eval", "-m", m, "--data", data.to_str().unwrap(), "--balance", "3"]);
    fails_naming(&out, &[m, "within 0-2"]);

    // The text report and the PNG.
    let png = dir.path().join("confusion.png");
    let out = scn(&[
        "eval",
        "-m",
        m,
        "--data",
        data.to_str().unwrap(),
        "--confusion",
        png.to_str().unwrap(),
        "--balance",
        "0.5",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("(--balance 0.5)"), "{report}");
    assert!(
        report.contains("confusion (rows: true class") && report.contains("images/s"),
        "{report}"
    );
    assert!(report.contains("the trainer measured"), "{report}");
    assert!(image::open(&png).unwrap().width() > 200);

    // predict: JSON lines for images and folders; a broken image is reported and sets the status.
    let images = data.join("test/happiness");
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"not a png").unwrap();
    let out = scn(&[
        "predict",
        "-m",
        m,
        "--json",
        images.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    for line in &lines[..6] {
        // The test images are model-sized crops: classified whole, one face each.
        assert_eq!(line["crop"], true, "{line}");
        let faces = line["faces"].as_array().unwrap_or_else(|| panic!("{line}"));
        assert_eq!(faces.len(), 1, "{line}");
        let line = &faces[0];
        assert!(line["landmarks"].is_null(), "{line}");
        let p = &line["probabilities"];
        let probs: Vec<f64> = ["neutral", "happiness", "surprise"]
            .iter()
            .map(|c| p[c].as_f64().unwrap_or_else(|| panic!("{line}")))
            .collect();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{line}");
        assert!(
            line["alpha"].as_f64().is_some() && line["certainty"].as_f64().is_some(),
            "{line}"
        );
        let best = (0..3).max_by(|&a, &b| probs[a].total_cmp(&probs[b])).unwrap();
        assert_eq!(line["expression"], ["neutral", "happiness", "surprise"][best], "{line}");
    }
    assert!(lines[6]["error"].as_str().is_some(), "{}", lines[6]);
    let table = scn(&["predict", "-m", m, images.to_str().unwrap()]);
    assert!(table.status.success());
    assert!(text(&table.stdout).lines().count() == 7, "{}", text(&table.stdout));
}

#[test]
fn bad_models_and_missing_metadata_are_explained() {
    let (dir, data, run) = trained_run();
    let model = dir.path().join("model.onnx");
    let out = scn(&[
        "export",
        run.to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--face-template",
        "fer2013",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let image = data.join("test/neutral/test-0-00000.png");
    let image = image.to_str().unwrap();

    let not_onnx = dir.path().join("notes.onnx");
    std::fs::write(&not_onnx, "hello").unwrap();
    let out = scn(&["predict", "-m", not_onnx.to_str().unwrap(), image]);
    fails_naming(&out, &["notes.onnx: not an ONNX model"]);

    // The same model without its metadata: named key, and a hint; --classes makes it usable.
    let mut proto = tract_onnx::pb::ModelProto::decode(std::fs::read(&model).unwrap().as_slice()).unwrap();
    proto.metadata_props.clear();
    let bare = dir.path().join("bare.onnx");
    std::fs::write(&bare, proto.encode_to_vec()).unwrap();
    let b = bare.to_str().unwrap();
    let out = scn(&["predict", "-m", b, image]);
    fails_naming(&out, &["bare.onnx", "scn.format_version", "--classes"]);
    let out = scn(&[
        "predict",
        "-m",
        b,
        "--classes",
        "neutral,happiness,surprise",
        "--json",
        image,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert!(
        line["faces"][0]["certainty"].is_null(),
        "no calibration without metadata: {line}"
    );
    let out = scn(&["predict", "-m", b, "--classes", "a,b", image]);
    fails_naming(&out, &["outputs 3 classes"]);

    // An ONNX model that is not an image classifier (a rank-2 input).
    let flat = dir.path().join("flat.onnx");
    std::fs::write(&flat, rank2_model()).unwrap();
    let out = scn(&["predict", "-m", flat.to_str().unwrap(), "--classes", "a,b", image]);
    fails_naming(&out, &["flat.onnx", "rank 2"]);

    // A dataset that is not there.
    let out = scn(&["eval", "-m", model.to_str().unwrap(), "--data", "/nonexistent/data"]);
    fails_naming(&out, &["/nonexistent/data"]);
}

/// `y = relu(x)` with `x: float[1, 10]`: valid ONNX, but no image input.
fn rank2_model() -> Vec<u8> {
    use tract_onnx::pb::{self, tensor_shape_proto::Dimension, tensor_shape_proto::dimension, type_proto};
    let value = |name: &str| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: [1, 10]
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "flat".into(),
            node: vec![pb::NodeProto {
                op_type: "Relu".into(),
                input: vec!["x".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

/// The peer of ../shared/peers (a Keras mini-Xception without scn metadata, channels-last, a
/// graph that fixes its batch size to 1) evaluated on FER2013 PrivateTest: about 66%.
#[test]
#[ignore = "needs ../shared/peers and ../shared/datasets/ferplus; run: cargo test --test runtime_cli -- --ignored"]
fn the_fer_peer_model_evaluates_on_fer2013() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let peer = root.join("shared/peers/fer_mini_xception_64x64_gray.onnx");
    let data = root.join("shared/datasets/ferplus");
    let report = eval_json(
        &peer,
        &data,
        "test",
        &[
            "--format",
            "fer2013",
            "--probabilities",
            "--classes",
            "angry,disgust,fear,happy,sad,surprise,neutral",
        ],
    );
    assert_eq!(report["images"], 3573);
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!((0.64..0.68).contains(&accuracy), "{accuracy}");
}
