//! `scn eval`: accuracy of an exported model on a dataset split.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use scn::evaluate::{self, EvalReport};
use scn::plot;
use scn::train::data::{Dataset, Split};

use crate::cli::EvalArgs;
use crate::cmd::{data::open_options, load};

/// The report as text: overall and per-class accuracy, the confusion matrix, throughput.
pub fn render(report: &EvalReport, counts: &[u64]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "accuracy {:.2}% ({} images), mean class accuracy {:.2}%",
        100.0 * report.accuracy,
        report.images,
        100.0 * report.mean_class_accuracy
    );
    let settings = load::settings(report.flip, report.balance);
    if !settings.is_empty() {
        let _ = writeln!(s, "{}", settings.join("; "));
    }
    let _ = writeln!(s, "\n{:<10} {:>7} {:>9}", "class", "images", "accuracy");
    for (i, class) in report.classes.iter().enumerate() {
        let acc = report.per_class[i].map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
        let _ = writeln!(s, "{:<10} {:>7} {:>9}", class, counts[i], acc);
    }
    let short: Vec<String> = report.classes.iter().map(|c| c.chars().take(7).collect()).collect();
    let _ = writeln!(s, "\nconfusion (rows: true class, columns: predicted)");
    let _ = write!(s, "{:<10}", "");
    for c in &short {
        let _ = write!(s, " {c:>7}");
    }
    s.push('\n');
    for (i, row) in report.confusion.counts.iter().enumerate() {
        let _ = write!(s, "{:<10}", short[i]);
        for v in row {
            let _ = write!(s, " {v:>7}");
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\n{:.1} images/s ({:.1} s, batch {}, decoding included)",
        report.images_per_second, report.seconds, report.batch_size
    );
    if !report.skipped.is_empty() {
        let _ = writeln!(
            s,
            "{} image(s) could not be decoded, e.g. {}: {}",
            report.skipped.len(),
            report.skipped[0].0,
            report.skipped[0].1
        );
    }
    s
}

/// Runs `scn eval`.
pub fn run(args: EvalArgs) -> Result<ExitCode> {
    let split = Split::from(args.split);
    let classifier = load::classifier(&args.model)?;
    let options = open_options(&args.dataset.open)?;
    let dataset = Dataset::open(args.dataset.data(), &options)
        .with_context(|| format!("cannot read the dataset at {}", args.dataset.data().display()))?;
    if !dataset.issues.is_empty() {
        log::warn!(
            "{} problem(s) in the dataset; those items are skipped (`scn data check` lists them), e.g. {}",
            dataset.issues.len(),
            dataset.issues[0]
        );
    }
    let samples = dataset
        .split(split)
        .map(|s| s.samples.as_slice())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "{}: no {} split in this dataset ({})",
                args.dataset.data().display(),
                split.name(),
                dataset.description
            )
        })?;
    let mapping = evaluate::class_mapping(&dataset.classes, classifier.classes()).with_context(|| {
        format!(
            "{} cannot be evaluated on {}",
            classifier.path().display(),
            dataset.description
        )
    })?;
    log::info!(
        "evaluating on {} {} images of {}",
        samples.len(),
        split.name(),
        dataset.description
    );
    let bar = ProgressBar::new(samples.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("eval {}", split.name()));
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let report = evaluate::evaluate(&classifier, samples, &mapping, args.batch_size, &|done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let counts: Vec<u64> = report.confusion.counts.iter().map(|r| r.iter().sum()).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} on {} ({} split, {})",
            classifier.path().display(),
            args.dataset.data().display(),
            split.name(),
            dataset.description
        );
        print!("{}", render(&report, &counts));
        let m = classifier.metadata();
        for score in [&m.validation, &m.test].into_iter().flatten() {
            if score.split == split.name() {
                println!(
                    "the trainer measured {:.2}% on this split at epoch {} ({} images)",
                    100.0 * score.accuracy,
                    score.epoch,
                    score.images
                );
            }
        }
    }
    if let Some(path) = &args.confusion {
        let names: Vec<&str> = report.classes.iter().map(String::as_str).collect();
        let title = format!(
            "{} on {} {}: {:.2}% ({} images)",
            classifier
                .path()
                .file_name()
                .map_or_else(|| "model".into(), |f| f.to_string_lossy()),
            dataset.description,
            split.name(),
            100.0 * report.accuracy,
            report.images
        );
        plot::confusion_matrix(&report.confusion.counts, &names, &title).save_png(path)?;
    }
    Ok(ExitCode::SUCCESS)
}
