//! `scn compare`: several training runs side by side, as curves on shared axes (a PNG) and a
//! table of their best and last epochs. Where a run's validation peaks and how far it falls
//! after the peak (memorised label noise) is what a person compares runs for.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use scn::plot::{self, Panel, Series};
use scn::train::metrics::{EpochMetrics, METRICS_FILE, read_metrics};

use super::train::memorised;
use crate::cli::CompareArgs;

/// One run to compare: the name it is shown under and its epochs.
struct Run {
    name: String,
    history: Vec<EpochMetrics>,
}

/// Runs `scn compare`.
pub fn run(args: CompareArgs) -> Result<ExitCode> {
    let names = run_names(&args.runs);
    let mut runs = Vec::with_capacity(args.runs.len());
    for (path, name) in args.runs.iter().zip(names) {
        let file = metrics_file(path);
        let history = read_metrics(&file).with_context(|| format!("run {}", path.display()))?;
        runs.push(Run { name, history });
    }
    plot::panels(&panels(&runs), 2)
        .save_png(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    print!("{}", table(&runs));
    println!("curves: {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// A run folder's `metrics.jsonl`, or the file itself when one is given.
fn metrics_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(METRICS_FILE)
    } else {
        path.to_path_buf()
    }
}

/// The legend names: each run's folder name (the folder a metrics.jsonl sits in), or the path
/// as given where two runs would share a name.
fn run_names(paths: &[PathBuf]) -> Vec<String> {
    let short = |p: &PathBuf| {
        let folder = if p.file_name().is_some_and(|n| n == METRICS_FILE) {
            p.parent().unwrap_or(p)
        } else {
            p.as_path()
        };
        folder
            .file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
    };
    let shorts: Vec<String> = paths.iter().map(short).collect();
    shorts
        .iter()
        .zip(paths)
        .map(|(s, p)| {
            if shorts.iter().filter(|o| *o == s).count() > 1 {
                p.display().to_string()
            } else {
                s.clone()
            }
        })
        .collect()
}

/// The charts: one line per run in each.
fn panels(runs: &[Run]) -> Vec<Panel> {
    let panel = |title: &str, value: &dyn Fn(&EpochMetrics) -> Option<f64>, y_range| Panel {
        title: title.into(),
        series: runs
            .iter()
            .map(|r| Series {
                name: r.name.clone(),
                points: r
                    .history
                    .iter()
                    .filter_map(|m| value(m).map(|v| (m.epoch as f64, v)))
                    .collect(),
            })
            .collect(),
        y_range,
    };
    let mut panels = vec![
        panel("Validation accuracy (%)", &|m| validation(m, false), None),
        panel("Validation mean class accuracy (%)", &|m| validation(m, true), None),
        panel(
            "Training accuracy (%, on the labels in use)",
            &|m| Some(100.0 * m.train_accuracy),
            None,
        ),
        panel("Training loss", &|m| Some(m.loss), None),
    ];
    let any_run = |has: &dyn Fn(&EpochMetrics) -> bool| runs.iter().any(|r| r.history.iter().any(has));
    if any_run(&|m| m.noise_fit.is_some()) {
        panels.push(panel(
            "Flipped images answered with their wrong label (%)",
            &memorised,
            None,
        ));
    }
    if any_run(&|m| m.noise_attention.is_some()) {
        panels.push(panel(
            "Attention: AUROC of a low weight for a wrong label",
            &|m| m.noise_attention.as_ref().map(|a| a.auroc),
            Some((0.0, 1.0)),
        ));
    }
    panels
}

/// Validation accuracy (or mean class accuracy) in percent.
fn validation(m: &EpochMetrics, mean_class: bool) -> Option<f64> {
    m.validation
        .as_ref()
        .map(|v| 100.0 * if mean_class { v.mean_class_accuracy } else { v.accuracy })
}

/// The table printed to stdout: per run its epochs, best validation epoch, the last epoch's
/// validation (and how far it is below the best), training accuracy and, with a noise record,
/// the flipped images answered with their wrong label and the attention's AUROC.
fn table(runs: &[Run]) -> String {
    let width = runs.iter().map(|r| r.name.len()).max().unwrap_or(0).max(3);
    let mut out = format!(
        "{:<width$}  epochs  best valid (epoch)  last valid (below best)  last train  flipped: wrong label  AUROC\n",
        "run"
    );
    for r in runs {
        let Some(last) = r.history.last() else {
            continue;
        };
        let best = r
            .history
            .iter()
            .filter_map(|m| validation(m, false).map(|v| (m.epoch, v)))
            .fold(None, |b: Option<(usize, f64)>, (e, v)| match b {
                Some((_, bv)) if bv >= v => b,
                _ => Some((e, v)),
            });
        let best_text = best.map_or("-".into(), |(e, v)| format!("{v:.2}% ({e})"));
        let last_text = match (validation(last, false), best) {
            (Some(v), Some((_, b))) => format!("{v:.2}% ({:.2})", v - b),
            _ => "-".into(),
        };
        let flipped = memorised(last).map_or("-".into(), |v| format!("{v:.1}%"));
        let auroc = last
            .noise_attention
            .as_ref()
            .map_or("-".into(), |a| format!("{:.2}", a.auroc));
        out.push_str(&format!(
            "{:<width$}  {:>6}  {best_text:>18}  {last_text:>23}  {:>9.2}%  {flipped:>20}  {auroc:>5}\n",
            r.name,
            last.epoch,
            100.0 * last.train_accuracy
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(e: usize, valid: f64, flipped_as_noisy: Option<usize>) -> EpochMetrics {
        let mut m: EpochMetrics = serde_json::from_value(serde_json::json!({
            "epoch": e, "lr": 0.001, "loss": 1.5, "wce": 1.5, "rr": 0.0, "train_accuracy": 0.5,
            "alpha_high": 1.0, "alpha_low": 1.0, "alpha_histogram": [], "relabeled": 0,
            "relabeled_total": 0, "noise_restored": null, "noise_flipped": null,
            "skipped_images": 0, "images_per_second": 100.0, "seconds": 60.0,
            "validation": {
                "images": 100, "loss": 1.0, "accuracy": valid, "mean_class_accuracy": 0.4,
                "per_class": [], "confusion": {"counts": []}, "alpha_percentiles": [],
            },
        }))
        .unwrap();
        m.noise_fit = flipped_as_noisy.map(|n| scn::train::metrics::NoiseFit {
            flipped_as_noisy: n,
            flipped_as_clean: 0,
            flipped_seen: 200,
            others_right: 0,
            others_seen: 0,
        });
        m
    }

    #[test]
    fn runs_are_named_by_their_folder_unless_two_share_one() {
        let paths: Vec<PathBuf> = ["runs/a", "results/b/metrics.jsonl", "x/c", "y/c"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(run_names(&paths), vec!["a", "b", "x/c", "y/c"]);
    }

    #[test]
    fn the_table_shows_the_peak_and_the_fall_after_it() {
        let runs = vec![
            Run {
                name: "memorises".into(),
                history: vec![
                    epoch(1, 0.60, Some(10)),
                    epoch(2, 0.7145, Some(20)),
                    epoch(3, 0.6525, Some(48)),
                ],
            },
            Run {
                name: "clean".into(),
                history: vec![epoch(1, 0.70, None)],
            },
        ];
        let text = table(&runs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("memorises"), "{text}");
        // Best 71.45% at epoch 2, last 65.25%: 6.20 below; 48 of 200 flipped images memorised.
        assert!(lines[1].contains("71.45% (2)"), "{text}");
        assert!(lines[1].contains("65.25% (-6.20)"), "{text}");
        assert!(lines[1].contains("24.0%"), "{text}");
        assert!(
            lines[2].contains("70.00% (1)") && lines[2].contains("70.00% (0.00)"),
            "{text}"
        );
        // A panel for the flipped images once any run has a noise record; none for AUROC.
        let titles: Vec<String> = panels(&runs).into_iter().map(|p| p.title).collect();
        assert_eq!(titles.len(), 5, "{titles:?}");
        assert!(titles[4].starts_with("Flipped images"), "{titles:?}");
        let flipped = &panels(&runs)[4];
        assert_eq!(flipped.series[0].points, vec![(1.0, 5.0), (2.0, 10.0), (3.0, 24.0)]);
        assert!(flipped.series[1].points.is_empty());
    }
}
