//! `scn export`: a checkpoint as an ONNX model with the runtime's metadata.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use scn::train::export::{self, ExportOptions};
use scn::train::metadata::FaceTemplate;

use crate::cli::ExportArgs;

/// Reads `--face-template`: a built-in name or a JSON file.
pub fn face_template(value: &str) -> Result<FaceTemplate> {
    match value.to_ascii_lowercase().as_str() {
        "fer2013" | "ferplus" => Ok(FaceTemplate::fer2013()),
        "rafdb" | "raf-db" => Ok(FaceTemplate::rafdb_aligned()),
        _ => {
            let text = std::fs::read_to_string(value)
                .with_context(|| format!("--face-template {value}: not fer2013, rafdb or a readable JSON file"))?;
            FaceTemplate::from_json(&text).map_err(|e| anyhow::anyhow!("--face-template {value}: {e}"))
        }
    }
}

/// Runs `scn export`.
pub fn run(args: ExportArgs) -> Result<ExitCode> {
    if args.output.exists() && !args.force {
        bail!("{} exists: pass --force to replace it", args.output.display());
    }
    let options = ExportOptions {
        face_template: args.face_template.as_deref().map(face_template).transpose()?,
        keep_batch_norm: args.keep_batch_norm,
    };
    let exported = export::export(&args.checkpoint, &args.output, &options)
        .with_context(|| format!("cannot export {}", args.checkpoint.display()))?;
    let m = &exported.metadata;
    println!(
        "wrote {} ({:.1} MB) from {} (epoch {})",
        args.output.display(),
        exported.bytes as f64 / 1e6,
        exported.checkpoint.display(),
        exported.epoch
    );
    println!("  classes: {}", m.classes.join(", "));
    println!(
        "  input: {} channel(s), {}x{}, mean {:?}, std {:?}",
        m.input.channels, m.input.size, m.input.size, m.input.mean, m.input.std
    );
    println!(
        "  face template: {}x{} ({})",
        m.face_template.size, m.face_template.size, m.face_template.source
    );
    if let Some(v) = &m.validation {
        println!(
            "  {} accuracy: {:.2}% (mean class {:.2}%, {} images)",
            v.split,
            100.0 * v.accuracy,
            100.0 * v.mean_class_accuracy,
            v.images
        );
    }
    if m.alpha_percentiles.is_empty() {
        println!("  alpha calibration: none (no validation metrics in the checkpoint)");
    } else {
        let p = &m.alpha_percentiles;
        println!(
            "  alpha calibration: validation percentiles 5/50/95 = {:.3}/{:.3}/{:.3}",
            p[5], p[50], p[95]
        );
    }
    println!(
        "  BatchNorm: {}",
        if args.keep_batch_norm {
            "kept".to_string()
        } else {
            format!("{} folded into convolutions", exported.folded_batch_norms)
        }
    );
    Ok(ExitCode::SUCCESS)
}
