//! End-to-end tests of `scn data check` and `scn data noise`: the real binary on small datasets
//! written into temporary folders. The test on the shared FERPlus copy is ignored by default:
//! `cargo test --test data_cli -- --ignored` runs it where ../shared/datasets/ferplus exists.
#![cfg(feature = "train")]

use std::path::{Path, PathBuf};
mod common;

use common::{fails_naming, scn, text};

fn png(path: &Path, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_fn(48, 48, |x, y| {
        image::Luma([(x as u8) ^ (y as u8).wrapping_mul(3) ^ seed])
    })
    .save(path)
    .unwrap();
}

/// A FERPlus-layout dataset: train 3 happy + 2 neutral (+1 without majority), valid 1, test 2.
fn ferplus(root: &Path) {
    let rows = [
        (
            "FER2013Train",
            vec![
                ("a", "0,9,1,0"),
                ("b", "0,8,0,2"),
                ("c", "1,7,2,0"),
                ("d", "10,0,0,0"),
                ("e", "6,0,0,4"),
                ("f", "4,3,3,0"),
            ],
        ),
        ("FER2013Valid", vec![("g", "0,0,10,0")]),
        ("FER2013Test", vec![("h", "0,10,0,0"), ("i", "0,0,0,10")]),
    ];
    for (folder, items) in rows {
        let mut csv = String::new();
        for (i, (name, votes)) in items.iter().enumerate() {
            csv.push_str(&format!("{name}.png,\"(0, 0, 48, 48)\",{votes},0,0,0,0,0,0\n"));
            png(
                &root.join(folder).join(format!("{name}.png")),
                i as u8 * 17 + folder.len() as u8,
            );
        }
        std::fs::write(root.join(folder).join("label.csv"), csv).unwrap();
    }
}

#[test]
fn check_prints_counts_per_split_and_class() {
    let dir = tempfile::tempdir().unwrap();
    ferplus(dir.path());
    let out = scn(&["data", "check", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("FERPlus, majority labels, 8 classes"), "{stdout}");
    let train = stdout.lines().find(|l| l.starts_with("train")).unwrap();
    let cells: Vec<&str> = train.split_whitespace().collect();
    // split, images, neutral, happiness, surprise, sadness, ...
    assert_eq!(&cells[..6], &["train", "5", "2", "3", "0", "0"], "{stdout}");
    assert!(
        stdout.contains("train: 1 (1 no emotion has a clear majority of votes)"),
        "{stdout}"
    );
    assert!(stdout.contains("problems: none"));
}

#[test]
fn check_json_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    ferplus(dir.path());
    let out = scn(&["data", "check", "--json", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(report["format"], "ferplus");
    assert_eq!(report["classes"].as_array().unwrap().len(), 8);
    let images: Vec<u64> = report["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["images"].as_u64().unwrap())
        .collect();
    assert_eq!(images, vec![5, 1, 2]);
}

#[test]
fn check_fails_and_names_the_file_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    ferplus(dir.path());
    std::fs::write(dir.path().join("FER2013Test/h.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let labels = dir.path().join("FER2013Train/label.csv");
    let mut csv = std::fs::read_to_string(&labels).unwrap();
    csv.push_str("z.png,\"(0, 0, 48, 48)\",0,9,1,0,0,0,0,0,0,0\nbad line\n");
    std::fs::write(&labels, csv).unwrap();

    let out = scn(&["data", "check", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("problems: 3 (1 malformed line, 1 missing image, 1 corrupt image)"),
        "{stdout}"
    );
    assert!(stdout.contains("FER2013Train/label.csv:7: missing image"), "{stdout}");
    assert!(stdout.contains("FER2013Train/label.csv:8: malformed line"), "{stdout}");
    assert!(stdout.contains("FER2013Test/h.png: corrupt image"), "{stdout}");
    assert!(text(&out.stderr).contains("3 problem(s)"));

    let strict = scn(&["data", "check", "--strict", dir.path().to_str().unwrap()]);
    fails_naming(&strict, &["error: cannot read the dataset", "label.csv:7"]);
}

#[test]
fn a_missing_dataset_is_a_clear_error() {
    let out = scn(&["data", "check", "/nonexistent/faces"]);
    fails_naming(&out, &["/nonexistent/faces: not found"]);
}

#[test]
fn noise_writes_a_usable_noisy_label_file() {
    let dir = tempfile::tempdir().unwrap();
    ferplus(dir.path());
    let noisy = dir.path().join("noisy/label.csv");
    let labels = dir.path().join("FER2013Train/label.csv");
    // `scn data noise` at ratio 0.5, seed 4, into `output`, with `extra` arguments.
    let noise = |output: &Path, extra: &[&str]| {
        let mut args = vec![
            "data",
            "noise",
            labels.to_str().unwrap(),
            "--ratio",
            "0.5",
            "--seed",
            "4",
        ];
        args.extend_from_slice(extra);
        args.extend(["-o", output.to_str().unwrap()]);
        scn(&args)
    };
    let out = noise(&noisy, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    // happiness 3 -> round(1.5) = 2, neutral 2 -> 1.
    assert!(stdout.contains("flipped 3 of 5 training labels"), "{stdout}");
    assert!(stdout.contains("noisy labels saying it: right"), "{stdout}");
    // Happiness keeps 1 of its 3 labels.
    let happiness = stdout.lines().find(|l| l.trim_start().starts_with("happiness"));
    assert!(happiness.is_some_and(|l| l.contains(" 1 of ")), "{stdout}");
    let record = std::fs::read_to_string(dir.path().join("noisy/label.flips.csv")).unwrap();
    assert_eq!(record.lines().count(), 4);

    let out = scn(&[
        "data",
        "check",
        "--json",
        "--train-labels",
        noisy.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let per_class: Vec<u64> = report["splits"][0]["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(per_class.iter().sum::<u64>(), 5);
    assert_ne!(&per_class[..2], &[2, 3], "labels moved between classes");

    let again = noise(&noisy, &[]);
    fails_naming(&again, &["--force"]);

    // The JSON summary says where each class's flips went.
    let json = noise(&dir.path().join("noisy/again.csv"), &["--json"]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let classes = summary["per_class"].as_array().unwrap();
    let total = |key: &str| classes.iter().map(|c| c[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!((total("flipped"), total("flipped_in")), (3, 3), "{summary}");

    // With a model's confusions, the flips go where it goes wrong: happiness is only ever taken
    // for surprise, neutral for sadness.
    let names = [
        "neutral",
        "happiness",
        "surprise",
        "sadness",
        "anger",
        "disgust",
        "fear",
        "contempt",
    ];
    let mut counts = vec![vec![0u64; 8]; 8];
    counts[1][2] = 7;
    counts[0][3] = 2;
    let eval = dir.path().join("eval.json");
    let json = serde_json::json!({"classes": names, "confusion": {"counts": counts}});
    std::fs::write(&eval, json.to_string()).unwrap();
    let confusable = dir.path().join("noisy/confusable.csv");
    let out = noise(&confusable, &["--confusion", eval.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("eval.json confuses them with"), "{stdout}");
    let record = std::fs::read_to_string(dir.path().join("noisy/confusable.flips.csv")).unwrap();
    let mut moves: Vec<String> = record
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(4).collect::<Vec<_>>().join(">"))
        .collect();
    moves.sort();
    assert_eq!(moves, ["happiness>surprise", "happiness>surprise", "neutral>sadness"]);
    // An evaluation without every class of the labels is refused, naming the class.
    let seven = serde_json::json!({"classes": &names[..7], "confusion": {"counts": vec![vec![1u64; 7]; 7]}});
    std::fs::write(&eval, seven.to_string()).unwrap();
    let refused = noise(
        &dir.path().join("noisy/refused.csv"),
        &["--confusion", eval.to_str().unwrap()],
    );
    fails_naming(&refused, &["--confusion", "eval.json", "no class 'contempt'"]);
}

fn shared_ferplus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/ferplus")
}

#[test]
#[ignore = "needs the shared FERPlus copy at ../shared/datasets/ferplus"]
fn real_ferplus_counts_match_the_published_protocol() {
    let root = shared_ferplus();
    let images = |args: &[&str]| -> Vec<u64> {
        let out = scn(args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["splits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["images"].as_u64().unwrap())
            .collect()
    };
    let path = root.to_str().unwrap();
    assert_eq!(images(&["data", "check", "--json", path]), vec![25_045, 3_191, 3_137]);
    assert_eq!(
        images(&["data", "check", "--json", "--format", "fer2013", path]),
        vec![28_558, 3_579, 3_573]
    );
}
