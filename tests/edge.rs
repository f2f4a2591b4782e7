//! The edge build agrees with this one: the runtime cross-built for an ARM board (README, "On an
//! edge board") and run under qemu-user finds and classifies the faces of the public-domain
//! photos in assets/faces as the host build does, with the shipped model, through `scn predict`
//! and `scn run --images`. Its matrix kernels differ (NEON instead of AVX), so numbers may differ
//! in their last digits; faces, expressions and every box, landmark and probability must agree
//! within the tolerances below.
//!
//! `bash .ci/edge` cross-builds the runtime and runs this test with `SCN_EDGE_BIN` (the ARM
//! binary) and `SCN_EDGE_RUNNER` (the emulator command, e.g. `qemu-aarch64 -L
//! /usr/aarch64-linux-gnu`) set.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Pixels: boxes and landmarks.
const COORDINATE_TOLERANCE: f64 = 0.05;
/// Probabilities, attention weights, certainties and detector scores.
const SCORE_TOLERANCE: f64 = 1e-3;
/// Timings, which are the machine's and not the model's.
const TIMING_KEYS: &[&str] = &["ms", "fps"];

/// Runs the edge binary under its emulator with `args` and returns its JSON lines.
fn edge(args: &[&str]) -> Vec<Value> {
    let bin = std::env::var("SCN_EDGE_BIN").expect("SCN_EDGE_BIN: the cross-built scn (bash .ci/edge sets it)");
    let runner = std::env::var("SCN_EDGE_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut command = match words.next() {
        Some(emulator) => {
            let mut c = Command::new(emulator);
            c.args(words).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    let out = command
        .args(args)
        .env_remove("RUST_LOG")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("{runner} {bin} does not start: {e}"));
    assert!(
        out.status.success(),
        "edge scn {args:?} failed: {}",
        common::text(&out.stderr)
    );
    json_lines(&out.stdout)
}

/// Runs this build's binary with `args` from the repository root and returns its JSON lines.
fn host(args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_scn"))
        .args(args)
        .env_remove("RUST_LOG")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the scn binary runs");
    assert!(
        out.status.success(),
        "scn {args:?} failed: {}",
        common::text(&out.stderr)
    );
    json_lines(&out.stdout)
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    common::text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The largest differences found: (coordinates, scores).
#[derive(Debug, Default)]
struct Differences {
    coordinate: f64,
    score: f64,
    numbers: usize,
}

/// Compares two outputs value by value, recording the largest numeric differences and failing on
/// any other difference (a face more or less, another expression).
fn compare(edge: &Value, host: &Value, path: &str, key: &str, d: &mut Differences) {
    match (edge, host) {
        (Value::Object(e), Value::Object(h)) => {
            let mut keys: Vec<&String> = e.keys().collect();
            keys.sort();
            let mut host_keys: Vec<&String> = h.keys().collect();
            host_keys.sort();
            assert_eq!(keys, host_keys, "{path}: other fields");
            for k in keys.into_iter().filter(|k| !TIMING_KEYS.contains(&k.as_str())) {
                compare(&e[k], &h[k], &format!("{path}.{k}"), k, d);
            }
        }
        (Value::Array(e), Value::Array(h)) => {
            assert_eq!(e.len(), h.len(), "{path}: {} against {} entries", e.len(), h.len());
            for (i, (a, b)) in e.iter().zip(h).enumerate() {
                compare(a, b, &format!("{path}[{i}]"), key, d);
            }
        }
        (Value::Number(e), Value::Number(h)) => {
            let (a, b) = (e.as_f64().unwrap_or(f64::NAN), h.as_f64().unwrap_or(f64::NAN));
            let diff = (a - b).abs();
            d.numbers += 1;
            if matches!(key, "box" | "landmarks" | "crop_box") {
                assert!(diff <= COORDINATE_TOLERANCE, "{path}: {a} on the edge build, {b} here");
                d.coordinate = d.coordinate.max(diff);
            } else if matches!(key, "width" | "height" | "frame" | "id" | "time") {
                assert_eq!(a, b, "{path}");
            } else {
                assert!(diff <= SCORE_TOLERANCE, "{path}: {a} on the edge build, {b} here");
                d.score = d.score.max(diff);
            }
        }
        _ => assert_eq!(edge, host, "{path}"),
    }
}

fn assert_same(args: &[&str]) -> Differences {
    let (e, h) = (edge(args), host(args));
    assert_eq!(
        e.len(),
        h.len(),
        "scn {args:?}: {} lines on the edge build, {} here",
        e.len(),
        h.len()
    );
    let faces: usize = h.iter().map(|l| l["faces"].as_array().map_or(0, Vec::len)).sum();
    assert!(faces >= 5, "scn {args:?}: only {faces} faces found in the photos");
    let mut d = Differences::default();
    for (i, (a, b)) in e.iter().zip(&h).enumerate() {
        compare(a, b, &format!("line {}", i + 1), "", &mut d);
    }
    eprintln!(
        "scn {args:?}: {} lines, {faces} faces, {} numbers; largest differences {:.2e} px, {:.2e} in scores",
        h.len(),
        d.numbers,
        d.coordinate,
        d.score
    );
    d
}

#[test]
#[ignore = "needs a cross-built runtime and qemu-user: bash .ci/edge"]
fn the_edge_build_finds_and_classifies_the_photos_faces_as_this_build_does() {
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/scn-ferplus.onnx")
            .is_file()
    );
    assert_same(&["predict", "assets/faces", "--json"]);
    assert_same(&["run", "--images", "assets/faces", "--no-window", "--json"]);
}
