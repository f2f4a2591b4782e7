//! `scn predict`: classify face images with an exported model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use scn::classifier::{self, Classifier, Prediction};
use serde_json::json;

use crate::cli::PredictArgs;
use crate::cmd::model;

const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "PNG", "JPG"];

/// The image files of the arguments: files as given, folders' images sorted by name.
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                            IMAGE_EXTENSIONS.contains(&e) || IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                        })
                })
                .collect();
            found.sort();
            if found.is_empty() {
                log::warn!("{}: no image files (png, jpg, bmp)", path.display());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn to_json(path: &Path, classifier: &Classifier, p: &Prediction) -> serde_json::Value {
    let classes = classifier.classes();
    let probabilities: serde_json::Map<String, serde_json::Value> = classes
        .iter()
        .zip(&p.probabilities)
        .map(|(c, &v)| (c.clone(), json!(v)))
        .collect();
    json!({
        "image": path.display().to_string(),
        "expression": classes[p.class],
        "confidence": p.confidence,
        "alpha": p.alpha,
        "certainty": p.certainty,
        "probabilities": probabilities,
    })
}

fn table_row(path: &Path, classifier: &Classifier, p: &Prediction, top: usize) -> String {
    let classes = classifier.classes();
    let mut order: Vec<usize> = (0..p.probabilities.len()).collect();
    order.sort_by(|&a, &b| p.probabilities[b].total_cmp(&p.probabilities[a]));
    let others: Vec<String> = order
        .iter()
        .skip(1)
        .take(top.saturating_sub(1))
        .map(|&i| format!("{} {:.1}%", classes[i], 100.0 * p.probabilities[i]))
        .collect();
    let fmt_opt = |v: Option<f32>, pct: bool| match v {
        Some(v) if pct => format!("{:>5.0}%", 100.0 * v),
        Some(v) => format!("{v:>6.3}"),
        None => format!("{:>6}", "-"),
    };
    format!(
        "{:<40} {:<10} {:>6.1}% {} {}  {}",
        path.display(),
        classes[p.class],
        100.0 * p.confidence,
        fmt_opt(p.alpha, false),
        fmt_opt(p.certainty, true),
        others.join(", ")
    )
}

/// Runs `scn predict`.
pub fn run(args: PredictArgs) -> Result<ExitCode> {
    let classifier = model::load(&args.model)?;
    classifier::set_inference_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let files = image_files(&args.images)?;
    if !args.json {
        println!(
            "{:<40} {:<10} {:>7} {:>6} {:>6}  next",
            "image", "expression", "prob.", "alpha", "certain"
        );
    }
    let mut failed = 0;
    for chunk in files.chunks(32) {
        // Decode the chunk, classify the images that decoded, print in the order given.
        let decoded: Vec<Result<image::DynamicImage, String>> = chunk
            .iter()
            .map(|path| image::open(path).map_err(|e| e.to_string()))
            .collect();
        let faces: Vec<image::DynamicImage> = decoded.iter().filter_map(|d| d.as_ref().ok().cloned()).collect();
        let mut predictions = classifier.classify(&faces)?.into_iter();
        for (path, result) in chunk.iter().zip(&decoded) {
            match (result, args.json) {
                (Ok(_), json) => {
                    let Some(p) = predictions.next() else { break };
                    if json {
                        println!("{}", to_json(path, &classifier, &p));
                    } else {
                        println!("{}", table_row(path, &classifier, &p, args.top));
                    }
                }
                (Err(e), true) => {
                    failed += 1;
                    println!("{}", json!({"image": path.display().to_string(), "error": e}));
                }
                (Err(e), false) => {
                    failed += 1;
                    eprintln!("error: {}: {e}", path.display());
                }
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
