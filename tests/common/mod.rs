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

/// The Python that has onnx and onnxruntime: `.ci/setup`'s virtual environment
/// (`target/python`) when it exists, else `python3` from `PATH`.
pub fn python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python/bin/python3");
    if venv.is_file() { venv } else { "python3".into() }
}
