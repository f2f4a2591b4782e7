//! FERPlus: `FER2013Train|Valid|Test/label.csv`, one row per 48x48 PNG with ten crowd vote
//! counts (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF).
//!
//! The label modes are those of the FER+ paper (Barsoum et al. 2016) and follow Microsoft's
//! reference code (`ferplus.py`, `_process_data`) exactly, so that the majority protocol keeps
//! Train 25,045 / Valid 3,191 / Test 3,137 images.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ClassList, Dataset, Format, ImageRef, IssueKind, Issues, Label, OpenOptions, Split, SplitData};
use crate::error::{Error, Result};
use crate::metrics::argmax;

/// Number of vote columns in label.csv (8 emotions, unknown, not-a-face).
pub(crate) const VOTES: usize = 10;
/// Number of emotion classes.
pub(crate) const CLASSES: usize = 8;

/// How FERPlus votes become a training target (FER+ paper, section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelMode {
    /// Majority vote: one class, kept only if it has more than half of the votes that remain
    /// after single votes are dropped. The protocol of the published FERPlus numbers.
    #[default]
    Majority,
    /// Probabilistic label drawing: the vote distribution is kept and the trainer draws one
    /// class from it each epoch.
    Probability,
    /// Cross-entropy: the vote distribution is the soft target.
    Crossentropy,
}

impl LabelMode {
    /// Parses a `--label-mode` value.
    pub fn parse(name: &str) -> Option<LabelMode> {
        match name.trim().to_ascii_lowercase().as_str() {
            "majority" | "mv" => Some(LabelMode::Majority),
            "probability" | "pld" => Some(LabelMode::Probability),
            "crossentropy" | "cross-entropy" | "ce" | "cel" => Some(LabelMode::Crossentropy),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            LabelMode::Majority => "majority",
            LabelMode::Probability => "probability",
            LabelMode::Crossentropy => "crossentropy",
        }
    }
}

/// Why a row has no label under a mode.
pub(crate) const EXCLUDED_NO_MAJORITY: &str = "no emotion has a clear majority of votes";
/// Why a row has no label: the crowd said unknown or not a face.
pub(crate) const EXCLUDED_UNKNOWN: &str = "votes say unknown or not a face";

/// Turns the ten vote counts into a distribution over the 8 classes, or the reason the image is
/// left out. A port of `_process_data` in microsoft/FERPlus `src/ferplus.py`.
pub(crate) fn process_votes(
    votes: &[u32; VOTES],
    mode: LabelMode,
) -> std::result::Result<[f32; CLASSES], &'static str> {
    let mut raw: [f64; VOTES] = votes.map(f64::from);
    // Outlier removal: a single vote (or none) does not count.
    for v in raw.iter_mut() {
        if *v < 1.0 + f64::EPSILON {
            *v = 0.0;
        }
    }
    let sum_list: f64 = raw.iter().sum();
    let mut emotion = [0.0f64; VOTES];
    let mut unknown = false;
    match mode {
        LabelMode::Majority => {
            let arg = argmax(&raw);
            let max = raw[arg];
            if max > 0.5 * sum_list {
                emotion[arg] = max;
            } else {
                return Err(EXCLUDED_NO_MAJORITY);
            }
        }
        LabelMode::Probability | LabelMode::Crossentropy => {
            let mut sum_part = 0.0;
            let mut count = 0usize;
            let mut valid_emotion = true;
            while sum_part < 0.75 * sum_list && count < 3 && valid_emotion {
                let max = raw.iter().copied().fold(f64::MIN, f64::max);
                for i in 0..VOTES {
                    if raw[i] == max {
                        emotion[i] = max;
                        raw[i] = 0.0;
                        sum_part += emotion[i];
                        count += 1;
                        if i >= CLASSES {
                            // unknown or not-a-face ties with the emotions taken so far
                            valid_emotion = false;
                            if emotion.iter().sum::<f64>() > max {
                                emotion[i] = 0.0;
                                count -= 1;
                            }
                            break;
                        }
                    }
                }
            }
            if emotion.iter().sum::<f64>() <= 0.5 * sum_list || count > 3 {
                unknown = true;
            }
        }
    }
    if unknown {
        return Err(EXCLUDED_NO_MAJORITY);
    }
    let winner = argmax(&emotion);
    if winner >= CLASSES {
        return Err(EXCLUDED_UNKNOWN);
    }
    let total: f64 = emotion[..CLASSES].iter().sum();
    let mut out = [0.0f32; CLASSES];
    for (o, e) in out.iter_mut().zip(&emotion[..CLASSES]) {
        *o = (*e / total) as f32;
    }
    Ok(out)
}

/// One parsed row of label.csv.
pub(crate) struct Row {
    pub name: String,
    pub votes: [u32; VOTES],
}

/// Parses one label.csv record: `name, "(0, 0, 48, 48)", 10 vote counts`.
pub(crate) fn parse_record(record: &csv::StringRecord) -> std::result::Result<Row, String> {
    if record.len() != 2 + VOTES {
        return Err(format!(
            "expected 12 fields (image, box, 10 vote counts), found {}",
            record.len()
        ));
    }
    let name = record[0].trim();
    if name.is_empty() {
        return Err("empty image name".into());
    }
    let mut votes = [0u32; VOTES];
    for (i, v) in votes.iter_mut().enumerate() {
        let field = record[2 + i].trim();
        *v = field
            .parse()
            .map_err(|_| format!("vote count '{field}' (column {}) is not a non-negative integer", 3 + i))?;
    }
    Ok(Row {
        name: name.to_string(),
        votes,
    })
}

/// Folder of each split.
pub(crate) fn split_dir(split: Split) -> &'static str {
    match split {
        Split::Train => "FER2013Train",
        Split::Valid => "FER2013Valid",
        Split::Test => "FER2013Test",
    }
}

/// Opens a label.csv as a CSV reader (no header, quoted box column).
pub(crate) fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>> {
    use crate::error::IoContext;
    let file = std::fs::File::open(path).at(path)?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file))
}

/// Opens FERPlus.
pub(super) fn open(root: &Path, options: &OpenOptions) -> Result<Dataset> {
    let mut issues = Issues::new(options.strict);
    let mut splits = Vec::new();
    for split in Split::ALL {
        let dir = root.join(split_dir(split));
        let own = dir.join("label.csv");
        let labels = match (&options.train_labels, split) {
            (Some(file), Split::Train) => file.clone(),
            _ => own,
        };
        if !labels.is_file() {
            return Err(Error::Missing {
                path: labels,
                what: format!("FERPlus {split} label file"),
            });
        }
        splits.push(read_split(&labels, &dir, split, options.label_mode, &mut issues)?);
    }
    Ok(Dataset {
        format: Format::Ferplus,
        description: format!("FERPlus, {} labels, 8 classes", options.label_mode.name()),
        root: root.to_path_buf(),
        classes: ClassList::ferplus(),
        splits,
        issues: issues.into_vec(),
    })
}

fn read_split(labels: &Path, dir: &Path, split: Split, mode: LabelMode, issues: &mut Issues) -> Result<SplitData> {
    let mut data = SplitData::new(split);
    let mut seen = HashSet::new();
    let mut record = csv::StringRecord::new();
    let mut reader = csv_reader(labels)?;
    while let Some(line) = super::next_record(&mut reader, &mut record, labels, issues)? {
        let location = format!("{}:{line}", labels.display());
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        let row = match parse_record(&record) {
            Ok(row) => row,
            Err(detail) => {
                issues.report(IssueKind::MalformedLine, location, detail)?;
                continue;
            }
        };
        if !issues.first_listing(&mut seen, &row.name, &location)? {
            continue;
        }
        let distribution = match process_votes(&row.votes, mode) {
            Ok(d) => d,
            Err(reason) => {
                data.exclude(reason);
                continue;
            }
        };
        let image: PathBuf = dir.join(&row.name);
        if !issues.image_exists(&image, &location)? {
            continue;
        }
        let class = distribution
            .iter()
            .enumerate()
            .fold(0, |best, (i, &p)| if p > distribution[best] { i } else { best });
        let label = match mode {
            LabelMode::Majority => Label::hard(class),
            _ => Label {
                class,
                distribution: Some(Arc::from(distribution.as_slice())),
            },
        };
        data.push(ImageRef::File(image), label);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::write_png;

    #[test]
    fn majority_drops_single_votes_and_needs_more_than_half() {
        // 4 neutral, 3 anger, 2 disgust, 1 sadness: the single sadness vote is dropped,
        // 4 of 9 is not a majority.
        assert_eq!(
            process_votes(&[4, 0, 0, 1, 3, 2, 0, 0, 0, 0], LabelMode::Majority),
            Err(EXCLUDED_NO_MAJORITY)
        );
        // 6 neutral, 1 surprise, 1 sadness, 2 unknown: 6 of 8.
        let d = process_votes(&[6, 0, 1, 1, 0, 0, 0, 0, 2, 0], LabelMode::Majority).unwrap();
        assert_eq!(d, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        // Majority for "not a face".
        assert_eq!(
            process_votes(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 9], LabelMode::Majority),
            Err(EXCLUDED_UNKNOWN)
        );
        // Nothing but single votes.
        assert_eq!(
            process_votes(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], LabelMode::Majority),
            Err(EXCLUDED_NO_MAJORITY)
        );
    }

    #[test]
    fn crossentropy_keeps_up_to_three_top_emotions() {
        // 5 neutral, 3 sadness, 1 anger, 1 unknown: singles dropped, sum 8; neutral 5 then
        // sadness 3 reaches 8 >= 0.75*8.
        let d = process_votes(&[5, 0, 0, 3, 1, 0, 0, 0, 1, 0], LabelMode::Crossentropy).unwrap();
        assert_eq!(d, [0.625, 0.0, 0.0, 0.375, 0.0, 0.0, 0.0, 0.0]);
        // An image that majority drops can be kept as a distribution: 4 neutral, 3 anger,
        // 2 disgust (sum 9): neutral, anger (7 < 6.75? no, 7 >= 6.75): stops at 7 > 4.5.
        let d = process_votes(&[4, 0, 0, 1, 3, 2, 0, 0, 0, 0], LabelMode::Probability).unwrap();
        assert!(
            (d[0] - 4.0 / 7.0).abs() < 1e-6 && (d[4] - 3.0 / 7.0).abs() < 1e-6,
            "{d:?}"
        );
        // Unknown is the top vote: left out.
        assert_eq!(
            process_votes(&[2, 0, 0, 0, 0, 0, 0, 0, 6, 2], LabelMode::Crossentropy),
            Err(EXCLUDED_UNKNOWN)
        );
        // Spread over four equal emotions: too many.
        assert_eq!(
            process_votes(&[2, 2, 2, 2, 0, 0, 0, 0, 0, 0], LabelMode::Crossentropy),
            Err(EXCLUDED_NO_MAJORITY)
        );
    }

    fn make(root: &Path) {
        for (split, rows) in [
            (
                "FER2013Train",
                "a.png,\"(0, 0, 48, 48)\",7,3,0,0,0,0,0,0,0,0\nb.png,\"(0, 0, 48, 48)\",0,10,0,0,0,0,0,0,0,0\nc.png,\"(0, 0, 48, 48)\",4,0,0,1,3,2,0,0,0,0\n",
            ),
            ("FER2013Valid", "d.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,9,1,0\n"),
            (
                "FER2013Test",
                "e.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,0,0,10\nf.png,\"(0, 0, 48, 48)\",0,0,7,0,0,0,0,0,3,0\n",
            ),
        ] {
            std::fs::create_dir_all(root.join(split)).unwrap();
            std::fs::write(root.join(split).join("label.csv"), rows).unwrap();
            for name in ["a", "b", "c", "d", "e", "f"] {
                if rows.contains(&format!("{name}.png")) {
                    write_png(&root.join(split).join(format!("{name}.png")), 48, 1);
                }
            }
        }
    }

    #[test]
    fn reads_the_three_splits_with_protocol_exclusions() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path());
        let ds = Dataset::open(dir.path(), &OpenOptions::default()).unwrap();
        assert_eq!(ds.format, Format::Ferplus);
        let train = ds.split(Split::Train).unwrap();
        assert_eq!(train.samples.len(), 2);
        assert_eq!(train.samples[1].label, Label::hard(1));
        assert_eq!(train.excluded.get(EXCLUDED_NO_MAJORITY), Some(&1));
        assert_eq!(ds.split(Split::Valid).unwrap().samples[0].label.class, 7); // contempt
        let test = ds.split(Split::Test).unwrap();
        assert_eq!(test.samples.len(), 1);
        assert_eq!(test.excluded.get(EXCLUDED_UNKNOWN), Some(&1));
        assert!(ds.issues.is_empty());
    }

    #[test]
    fn soft_modes_carry_the_distribution() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path());
        let options = OpenOptions {
            label_mode: LabelMode::Crossentropy,
            ..Default::default()
        };
        let ds = Dataset::open(dir.path(), &options).unwrap();
        let train = ds.split(Split::Train).unwrap();
        assert_eq!(train.samples.len(), 3);
        let dist = train.samples[0].label.distribution.as_ref().unwrap();
        assert_eq!(dist[0], 0.7);
        assert_eq!(dist[1], 0.3);
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path());
        let labels = dir.path().join("FER2013Train/label.csv");
        let mut text = std::fs::read_to_string(&labels).unwrap();
        text.push_str("g.png,\"(0, 0, 48, 48)\",1,2,x,0,0,0,0,0,0,0\nh.png,1,2\nb.png,\"(0, 0, 48, 48)\",0,10,0,0,0,0,0,0,0,0\nz.png,\"(0, 0, 48, 48)\",0,10,0,0,0,0,0,0,0,0\n");
        std::fs::write(&labels, text).unwrap();
        let ds = Dataset::open(dir.path(), &OpenOptions::default()).unwrap();
        assert_eq!(
            super::super::testutil::issue_lines(&ds),
            vec![
                (IssueKind::MalformedLine, "4".to_string()),
                (IssueKind::MalformedLine, "5".to_string()),
                (IssueKind::Duplicate, "6".to_string()),
                (IssueKind::MissingImage, "7".to_string()),
            ]
        );
        assert!(ds.issues[0].detail.contains("'x'"), "{}", ds.issues[0]);
    }

    #[test]
    fn a_missing_split_label_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path());
        std::fs::remove_file(dir.path().join("FER2013Test/label.csv")).unwrap();
        let options = OpenOptions {
            format: Some(Format::Ferplus),
            ..Default::default()
        };
        let err = Dataset::open(dir.path(), &options).unwrap_err();
        assert!(err.to_string().contains("FER2013Test/label.csv"), "{err}");
    }
}
