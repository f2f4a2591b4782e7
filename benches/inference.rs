//! tract (scn's runtime) against onnxruntime on the same ONNX model, same batch, same threads,
//! in one run. onnxruntime runs through `python3 benches/ort_peer.py` (pip install onnxruntime).
//!
//! ```text
//! cargo bench --no-default-features --bench inference -- MODEL.onnx [MODEL.onnx ...]
//! ```
//! Prints a Markdown table (milliseconds per batch, faces per second, tract/onnxruntime ratio).
//! With `--profile`, prints instead where tract's time goes: milliseconds per run for each kind
//! of operator, per batch size and thread count.
//! Environment: `BENCH_SECONDS` per case (default 3), `BENCH_BATCHES` (default "1,16"),
//! `BENCH_THREADS` (default "1,2").

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use scn::classifier::{self, Classifier, ModelOverrides};

fn list(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// Milliseconds per batch; with `concurrent` > 1, that many threads run batches at once (each
/// call single-threaded) and the figure is wall time per batch (throughput).
fn tract_ms(classifier: &Classifier, batch: usize, seconds: f64, concurrent: usize) -> f64 {
    classifier.prepare_batch(batch).expect("tract compiles the model");
    let input: Vec<f32> = (0..batch * classifier.input_len())
        .map(|i| (i % 255) as f32 / 127.5 - 1.0)
        .collect();
    for _ in 0..3 {
        classifier.run(&input).expect("tract runs the model");
    }
    let start = Instant::now();
    let runs = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..concurrent.max(1) {
            scope.spawn(|| {
                while start.elapsed().as_secs_f64() < seconds || runs.load(std::sync::atomic::Ordering::Relaxed) < 5 {
                    classifier.run(&input).expect("tract runs the model");
                    runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    start.elapsed().as_secs_f64() * 1000.0 / runs.into_inner() as f64
}

fn ort_ms(model: &Path, batch: usize, threads: usize, seconds: f64) -> Result<(f64, String), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ort_peer.py");
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python/bin/python3");
    let python = if venv.is_file() { venv } else { "python3".into() };
    let out = Command::new(python)
        .arg(script)
        .arg(model)
        .args([batch.to_string(), threads.to_string(), seconds.to_string()])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("failed")
            .to_string());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok((
        v["ms_per_batch"].as_f64().unwrap_or(f64::NAN),
        v["version"].as_str().unwrap_or("?").to_string(),
    ))
}

/// Prints tract's time per operator kind for each model, batch and thread count.
fn profile(models: &[String], batches: &[usize], threads: &[usize], seconds: f64) {
    for model in models {
        let classifier = match Classifier::load(model, &ModelOverrides::default()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        };
        for &t in threads {
            classifier::set_inference_threads(t);
            for &b in batches {
                // About `seconds` of runs, from a first timing.
                let once = tract_ms(&classifier, b, 0.2, 1);
                let runs = ((seconds * 1000.0 / once) as usize).clamp(5, 10_000);
                let ops = match classifier.profile(b, runs) {
                    Ok(ops) => ops,
                    Err(e) => {
                        eprintln!("{e}");
                        continue;
                    }
                };
                let total: f64 = ops.iter().map(|o| o.ms).sum();
                println!(
                    "\n{model}, batch {b}, {t} thread(s): {total:.3} ms per run in nodes ({once:.3} ms per call)\n"
                );
                println!("| operator | nodes | ms per run | share |");
                println!("|---|---|---|---|");
                for op in &ops {
                    println!(
                        "| {} | {} | {:.3} | {:.1}% |",
                        op.op,
                        op.nodes,
                        op.ms,
                        100.0 * op.ms / total
                    );
                }
                let products: Vec<&(String, f64)> = ops.iter().flat_map(|o| &o.products).collect();
                if !products.is_empty() {
                    println!("\n| matrix product (tract's description) | ms per run | GFLOP/s |");
                    println!("|---|---|---|");
                    for (what, ms) in products {
                        let dims: Vec<f64> = ["m:", "k:", "n:"]
                            .iter()
                            .filter_map(|key| {
                                let at = what.find(key)? + key.len();
                                what[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
                            })
                            .collect();
                        // At batch 1 tract's m, k and n are the whole product (for batches it
                        // describes one image's).
                        let gflops = if dims.len() == 3 && b == 1 {
                            format!("{:.1}", 2.0 * dims.iter().product::<f64>() / (ms * 1e6))
                        } else {
                            "-".into()
                        };
                        println!("| {what} | {ms:.3} | {gflops} |");
                    }
                }
            }
        }
    }
}

fn main() {
    let models: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if models.is_empty() {
        eprintln!("usage: cargo bench --no-default-features --bench inference -- MODEL.onnx [MODEL.onnx ...]");
        return;
    }
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let batches = list("BENCH_BATCHES", "1,16");
    let threads = list("BENCH_THREADS", "1,2");
    if std::env::args().any(|a| a == "--profile") {
        profile(&models, &batches, &threads, seconds);
        return;
    }
    println!(
        "| model | batch | threads | tract ms/batch | tract, calls in parallel | onnxruntime ms/batch | tract / onnxruntime |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut ort_version = String::new();
    for model in &models {
        let classifier = match Classifier::load(model, &ModelOverrides::default()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        };
        let name = Path::new(model)
            .file_name()
            .map_or(model.clone(), |f| f.to_string_lossy().into_owned());
        for &t in &threads {
            classifier::set_inference_threads(t);
            if let Some(panels) = std::env::var("TRACT_PANEL_THRESHOLD").ok().and_then(|v| v.parse().ok()) {
                tract_linalg::multithread::set_threading_panel_threshold(panels);
            }
            for &b in &batches {
                let tract = tract_ms(&classifier, b, seconds, 1);
                let parallel = if t > 1 {
                    classifier::set_inference_threads(1);
                    let ms = tract_ms(&classifier, b, seconds, t);
                    classifier::set_inference_threads(t);
                    Some(ms)
                } else {
                    None
                };
                let best = parallel.map_or(tract, |p| p.min(tract));
                let (ort, ratio) = match ort_ms(Path::new(model), b, t, seconds) {
                    Ok((ms, version)) => {
                        ort_version = version;
                        (format!("{ms:.2}"), format!("{:.2}", best / ms))
                    }
                    Err(e) => (format!("n/a ({e})"), "-".into()),
                };
                let parallel = parallel.map_or("-".to_string(), |p| format!("{p:.2}"));
                println!("| {name} | {b} | {t} | {tract:.2} | {parallel} | {ort} | {ratio} |");
            }
        }
    }
    if !ort_version.is_empty() {
        println!("\nonnxruntime {ort_version}, tract-onnx 0.23.9");
    }
}
