//! `scn data check` and `scn data noise`.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use scn::train::data::check::{self, Report};
use scn::train::data::noise::{self, Confusions, FlipTargets, LabelFile, NoiseOptions, NoiseSummary};
use scn::train::data::{Dataset, Format, OpenOptions, Split};

use crate::cli::{CheckArgs, DataCommand, NoiseArgs, OpenArgs, TemplateArgs};

/// Runs a `scn data` subcommand.
pub fn run(command: DataCommand) -> Result<ExitCode> {
    match command {
        DataCommand::Check(args) => run_check(args),
        DataCommand::Noise(args) => run_noise(args),
        DataCommand::Template(args) => run_template(args),
    }
}

/// Turns the dataset arguments into library options.
pub fn open_options(args: &OpenArgs) -> Result<OpenOptions> {
    Ok(OpenOptions {
        format: args.format.map(Format::from),
        label_mode: args.label_mode.into(),
        rafdb_images: args.rafdb_images.into(),
        train_labels: args.train_labels.clone(),
        strict: args.strict,
    })
}

fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let options = open_options(&args.dataset.open)?;
    let dataset = Dataset::open(args.dataset.data(), &options)
        .with_context(|| format!("cannot read the dataset at {}", args.dataset.data().display()))?;
    let bar = ProgressBar::new(dataset.len() as u64).with_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} images ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("decoding");
    let report = check::check(&dataset, &|n| bar.inc(n));
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_report(&report, args.max_issues));
    }
    if report.is_clean() {
        Ok(ExitCode::SUCCESS)
    } else {
        log::error!(
            "{} has {} problem(s); training skips those items (or fails with --strict)",
            args.dataset.data().display(),
            report.issues.len()
        );
        Ok(ExitCode::from(1))
    }
}

/// The text form of a check report: a table of split x class counts, then exclusions, sizes,
/// identical images and problems.
pub fn render_report(report: &Report, max_issues: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n  at {}\n", report.description, report.root);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["split".to_string(), "images".to_string()];
    header.extend(report.classes.iter().map(|c| c.to_string()));
    rows.push(header);
    let mut totals = vec![0usize; report.classes.len()];
    for split in &report.splits {
        let mut row = vec![split.split.to_string(), split.images.to_string()];
        for (i, n) in split.per_class.iter().enumerate() {
            totals[i] += n;
            row.push(n.to_string());
        }
        rows.push(row);
    }
    if report.splits.len() > 1 {
        let mut row = vec!["total".to_string(), totals.iter().sum::<usize>().to_string()];
        row.extend(totals.iter().map(|n| n.to_string()));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == 0 {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  "));
    }

    let excluded: Vec<String> = report
        .splits
        .iter()
        .filter(|s| !s.excluded.is_empty())
        .map(|s| {
            let total: usize = s.excluded.values().sum();
            let reasons: Vec<String> = s.excluded.iter().map(|(r, n)| format!("{n} {r}")).collect();
            format!("  {}: {total} ({})", s.split, reasons.join("; "))
        })
        .collect();
    if !excluded.is_empty() {
        let _ = writeln!(
            out,
            "\nleft out by the label protocol (not problems):\n{}",
            excluded.join("\n")
        );
    }
    let sizes: Vec<String> = report.image_sizes.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    let _ = writeln!(
        out,
        "\nimage sizes: {}",
        if sizes.is_empty() {
            "none decoded".into()
        } else {
            sizes.join(", ")
        }
    );
    let identical: Vec<String> = report
        .splits
        .iter()
        .filter(|s| s.duplicate_images > 0 || s.also_in_train > 0)
        .map(|s| {
            let mut text = format!("{} {} repeated within the split", s.split, s.duplicate_images);
            if s.also_in_train > 0 {
                text.push_str(&format!(", {} also in train", s.also_in_train));
            }
            text
        })
        .collect();
    if !identical.is_empty() {
        let _ = writeln!(out, "identical images: {}", identical.join("; "));
    }

    if report.issues.is_empty() {
        let _ = writeln!(out, "problems: none");
    } else {
        let counts: Vec<String> = report
            .issue_counts()
            .iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect();
        let _ = writeln!(out, "problems: {} ({})", report.issues.len(), counts.join(", "));
        for issue in report.issues.iter().take(max_issues) {
            let _ = writeln!(out, "  {issue}");
        }
        if report.issues.len() > max_issues {
            let _ = writeln!(
                out,
                "  ... and {} more (--max-issues N, or --json for all)",
                report.issues.len() - max_issues
            );
        }
    }
    out
}

fn run_template(args: TemplateArgs) -> Result<ExitCode> {
    let split = Split::from(args.split);
    let options = open_options(&args.dataset.open)?;
    let data = args.dataset.data();
    let dataset =
        Dataset::open(data, &options).with_context(|| format!("cannot read the dataset at {}", data.display()))?;
    let samples = dataset
        .split(split)
        .map(|s| s.samples.as_slice())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("{} has no {} split", data.display(), split.name()))?;
    let defaults = scn::face::DetectorConfig::default();
    let detector = scn::face::Detector::embedded(args.detector.into(), defaults.min_face, defaults.thresholds[2])?;
    let source = format!("{} ({} split)", dataset.description, split.name());
    let m = scn::face::template::measure(&detector, samples, args.limit, &source)?;
    let json = serde_json::to_string_pretty(&m.template)?;
    match &args.output {
        Some(path) => {
            scn::train::fsutil::write_bytes(path, format!("{json}\n").as_bytes())?;
            println!("wrote {}", path.display());
        }
        None => println!("{json}"),
    }
    eprintln!(
        "faces found in {} of {} images; spread (interquartile range, px):",
        m.measured, m.tried
    );
    for (name, [sx, sy]) in scn::train::metadata::LANDMARK_NAMES.iter().zip(m.spread) {
        eprintln!("  {name:<18} x {sx:.1}  y {sy:.1}");
    }
    Ok(ExitCode::SUCCESS)
}

fn run_noise(args: NoiseArgs) -> Result<ExitCode> {
    let targets = match &args.confusion {
        None => FlipTargets::Uniform,
        Some(path) => {
            let classes = LabelFile::detect(&args.labels)
                .with_context(|| format!("cannot make a noisy copy of {}", args.labels.display()))?
                .classes();
            FlipTargets::Confusable(Confusions::from_eval_json(path, &classes).context("--confusion")?)
        }
    };
    let options = NoiseOptions {
        ratio: args.ratio,
        seed: args.seed,
        record: args.record.clone(),
        force: args.force,
        targets,
    };
    let summary = noise::add_label_noise(&args.labels, &args.output, &options)
        .with_context(|| format!("cannot make a noisy copy of {}", args.labels.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render_noise(&summary, args.seed));
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form of a noise summary.
fn render_noise(summary: &NoiseSummary, seed: u64) -> String {
    let mut out = String::new();
    let share = 100.0 * summary.flipped as f64 / summary.labels as f64;
    let towards = summary
        .confusions
        .as_ref()
        .map_or(", to any other class".to_string(), |f| {
            format!(", to the classes {} confuses them with", f.display())
        });
    let _ = writeln!(
        out,
        "flipped {} of {} training labels ({share:.1}%){towards}, seed {seed}",
        summary.flipped, summary.labels
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>6} {:>8} {:>11}   noisy labels saying it: right",
        "class", "labels", "flipped", "flipped in"
    );
    for c in &summary.per_class {
        let _ = writeln!(
            out,
            "  {:<10} {:>6} {:>8} {:>11}   {:>6} of {:>6} ({:.0}%)",
            c.class,
            c.labels,
            c.flipped,
            c.flipped_in,
            c.kept(),
            c.noisy_labels(),
            100.0 * c.right_share()
        );
    }
    let swamped: Vec<String> = summary
        .per_class
        .iter()
        .filter(|c| c.right_share() < 0.5)
        .map(|c| format!("{} ({:.0}% right)", c.class, 100.0 * c.right_share()))
        .collect();
    if !swamped.is_empty() {
        let _ = writeln!(
            out,
            "note: most labels saying {} are now wrong: more were flipped in than kept \
             (a rare class drowns in flips from the frequent ones)",
            swamped.join(", ")
        );
    }
    if !summary.unconfused.is_empty() {
        let _ = writeln!(
            out,
            "note: {} has no confusion for {}: flips from there went to any other class",
            summary
                .confusions
                .as_ref()
                .map_or(String::new(), |f| f.display().to_string()),
            summary.unconfused.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "noisy labels: {}\nflip record:  {}",
        summary.output.display(),
        summary.record.display()
    );
    out
}
