//! Helpers shared by the command-line tests.
#![allow(dead_code)] // each test binary uses a part

use std::process::{Command, Output};

/// Runs the `scn` binary with `args` (no `RUST_LOG` from the caller's environment).
pub fn scn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scn"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the scn binary runs")
}

/// Bytes as (lossy) text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Checks that a run failed the way a user's mistake should (exit status 1, an error message,
/// no panic) and returns its stderr for further checks.
#[track_caller]
pub fn failure(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Checks that a run failed as [`failure`] says, with every one of `needles` in its stderr.
#[track_caller]
pub fn fails_naming(out: &Output, needles: &[&str]) {
    let stderr = failure(out);
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
}

/// The Python that has onnx and onnxruntime: `.ci/setup`'s virtual environment
/// (`target/python`) when it exists, else `python3` from `PATH`.
pub fn python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python/bin/python3");
    if venv.is_file() { venv } else { "python3".into() }
}

/// Whether an external program runs (`PROGRAM -version`). In CI (`CI=true`) a missing program
/// fails the test, so that what CI must check is never skipped there.
pub fn have_program(program: &str, version_flag: &str) -> bool {
    let ok = Command::new(program)
        .arg(version_flag)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "{program} is missing: .ci/setup installs it"
        );
        eprintln!("{program} not installed: this check is skipped (it runs in CI)");
    }
    ok
}

/// `scn train` flags for a tiny model (width 4, batch 8) on grey `size`-pixel input, on the CPU.
pub fn tiny_train_flags(size: &str) -> [&str; 10] {
    [
        "--device",
        "flex",
        "--input-size",
        size,
        "--channels",
        "1",
        "--width",
        "4",
        "--batch-size",
        "8",
    ]
}

/// Trains a tiny model (width 4, 3 classes) on synthetic data for two steps and exports it
/// with the FER2013 face template: a model with complete metadata for runtime tests. Returns
/// the ONNX path inside `dir`.
#[cfg(feature = "train")]
pub fn tiny_model(dir: &std::path::Path) -> std::path::PathBuf {
    use scn::train::data::synthetic::{self, SyntheticSpec};
    let data = dir.join("tiny-data");
    let spec = SyntheticSpec {
        classes: 3,
        train_per_class: 8,
        test_per_class: 4,
        size: 48,
        noise: 0.0,
        seed: 5,
    };
    synthetic::generate(&data, &spec).unwrap();
    let run = dir.join("tiny-run");
    let mut args = vec![
        "train",
        data.to_str().unwrap(),
        "-o",
        run.to_str().unwrap(),
        "--epochs",
        "1",
    ];
    args.extend(tiny_train_flags("48"));
    args.extend(["--no-relabel", "--val-split", "test"]);
    let out = scn(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let model = dir.join("tiny.onnx");
    let out = scn(&[
        "export",
        run.to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--face-template",
        "fer2013",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    model
}
