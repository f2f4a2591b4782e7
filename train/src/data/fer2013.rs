//! FER2013, 7 classes (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral), in
//! either of its two forms:
//! - Kaggle's `fer2013.csv` (`emotion,pixels,Usage`, 48x48 grey pixels as text): streamed once,
//!   the pixels kept as bytes (about 82 MB for the 35,887 faces, never the 300 MB of text);
//! - `fer2013_original_labels.csv` (`row,Usage,ferplus_image_name,fer2013_emotion,status`) beside
//!   the FERPlus PNG folders: the original labels over the same images as FERPlus.
//!
//! Usage `Training`, `PublicTest` and `PrivateTest` are the train, valid and test splits.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    ClassList, Dataset, Format, ImageRef, IssueKind, Issues, Label, OpenOptions, PixelStore, Split, SplitData,
};
use crate::error::{Error, IoContext, Result};

/// Side of a FER2013 face.
const SIDE: u32 = 48;
/// File name of the original-label table that sits beside the FERPlus folders.
pub(crate) const ORIGINAL_LABELS: &str = "fer2013_original_labels.csv";
/// Why a row of the original-label table has no label.
const EXCLUDED_NO_LABEL: &str = "no FER2013 label for this image (-1)";

/// Whether `path` is a CSV whose header is FER2013's.
pub(super) fn is_fer2013_csv(path: &Path) -> bool {
    first_line(path).is_some_and(|l| l.trim_start_matches('\u{feff}').trim().starts_with("emotion,pixels"))
}

/// The first line of a file, if it can be read.
fn first_line(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut line = String::new();
    BufReader::new(file).read_line(&mut line).ok()?;
    Some(line)
}

/// `fer2013.csv` inside `dir` (or `dir/fer2013/`).
pub(super) fn csv_in(dir: &Path) -> Option<PathBuf> {
    [dir.join("fer2013.csv"), dir.join("fer2013").join("fer2013.csv")]
        .into_iter()
        .find(|p| p.is_file())
}

/// Opens FER2013 from a CSV file, a folder holding one, or a FERPlus folder with the
/// original-label table.
pub(super) fn open(path: &Path, options: &OpenOptions) -> Result<Dataset> {
    let mut issues = Issues::new(options.strict);
    let csv = if path.is_file() {
        Some(path.to_path_buf())
    } else {
        csv_in(path)
    };
    let (splits, description) = if let Some(csv) = csv {
        (
            read_pixel_csv(&csv, options.train_labels.as_deref(), &mut issues)?,
            "FER2013 (fer2013.csv), 7 classes",
        )
    } else if path.join(ORIGINAL_LABELS).is_file() {
        (
            read_original_labels(path, options.train_labels.as_deref(), &mut issues)?,
            "FER2013 original labels over the FERPlus PNGs, 7 classes",
        )
    } else {
        return Err(Error::Missing {
            path: path.join("fer2013.csv"),
            what: format!("FER2013 data: fer2013.csv, or {ORIGINAL_LABELS} beside FER2013Train/Valid/Test"),
        });
    };
    Ok(Dataset {
        format: Format::Fer2013,
        description: description.into(),
        root: path.to_path_buf(),
        classes: ClassList::fer2013(),
        splits,
        issues: issues.into_vec(),
    })
}

/// The split of a Usage field; one that names none is reported (an error in strict mode).
fn usage_or_report(usage: &str, location: &str, issues: &mut Issues) -> Result<Option<Split>> {
    let split = usage_split(usage);
    if split.is_none() {
        issues.report(
            IssueKind::MalformedLine,
            location,
            format!("Usage '{}' is none of Training, PublicTest, PrivateTest", usage.trim()),
        )?;
    }
    Ok(split)
}

/// The split of a `Usage` value.
fn usage_split(usage: &str) -> Option<Split> {
    match usage.trim() {
        "Training" => Some(Split::Train),
        "PublicTest" => Some(Split::Valid),
        "PrivateTest" => Some(Split::Test),
        _ => None,
    }
}

/// Which file each split is read from: the override for train, the dataset's own otherwise.
fn sources(main: &Path, train_override: Option<&Path>) -> Vec<(PathBuf, Vec<Split>)> {
    match train_override {
        Some(file) => vec![
            (file.to_path_buf(), vec![Split::Train]),
            (main.to_path_buf(), vec![Split::Valid, Split::Test]),
        ],
        None => vec![(main.to_path_buf(), Split::ALL.to_vec())],
    }
}

fn new_splits() -> Vec<SplitData> {
    Split::ALL.iter().map(|&s| SplitData::new(s)).collect()
}

/// Parses an `emotion` field: 0..=6, or the issue.
fn parse_emotion(field: &str) -> std::result::Result<usize, (IssueKind, String)> {
    let value: i64 = field.trim().parse().map_err(|_| {
        (
            IssueKind::MalformedLine,
            format!("emotion '{}' is not an integer", field.trim()),
        )
    })?;
    if !(0..=6).contains(&value) {
        return Err((IssueKind::LabelOutOfRange, format!("emotion {value} is outside 0..6")));
    }
    Ok(value as usize)
}

/// Parses 2,304 space-separated grey levels into `out`.
fn parse_pixels(field: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
    out.clear();
    for token in field.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
        let text = std::str::from_utf8(token).map_err(|_| "pixels are not text".to_string())?;
        let value: u8 = text
            .parse()
            .map_err(|_| format!("pixel value '{text}' is not in 0..255"))?;
        out.push(value);
    }
    let want = (SIDE * SIDE) as usize;
    if out.len() != want {
        return Err(format!("{} pixel values, expected {want} (48x48)", out.len()));
    }
    Ok(())
}

/// Opens a FER2013-style CSV with headers and returns the reader and the positions of `names`.
fn open_csv(path: &Path, names: &[&str]) -> Result<(csv::Reader<std::fs::File>, Vec<usize>)> {
    let file = std::fs::File::open(path).at(path)?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            line: Some(1),
            reason: e.to_string(),
        })?
        .clone();
    let mut columns = Vec::new();
    for name in names {
        let column = headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::Malformed {
                path: path.to_path_buf(),
                line: Some(1),
                reason: format!("no '{name}' column in the header (expected {})", names.join(",")),
            })?;
        columns.push(column);
    }
    Ok((reader, columns))
}

/// Reads `fer2013.csv`, streaming it row by row into one pixel store.
fn read_pixel_csv(main: &Path, train_override: Option<&Path>, issues: &mut Issues) -> Result<Vec<SplitData>> {
    let mut splits = new_splits();
    let mut pixels = Vec::with_capacity((SIDE * SIDE) as usize);
    for (file, wanted) in sources(main, train_override) {
        // One store per file, so that every image names the file and line it came from.
        let mut store = PixelStore::new(file.clone(), SIDE, SIDE);
        let mut slots: Vec<(Split, usize, usize)> = Vec::new();
        let (mut reader, cols) = open_csv(&file, &["emotion", "pixels", "Usage"])?;
        let mut record = csv::ByteRecord::new();
        while let Some(line) = super::next_record(&mut reader, &mut record, &file, issues)? {
            let location = format!("{}:{line}", file.display());
            let field = |i: usize| record.get(cols[i]).map(|b| String::from_utf8_lossy(b).into_owned());
            let (Some(emotion), Some(usage)) = (field(0), field(2)) else {
                issues.report(
                    IssueKind::MalformedLine,
                    location,
                    format!("{} fields, expected 3", record.len()),
                )?;
                continue;
            };
            let Some(split) = usage_or_report(&usage, &location, issues)? else {
                continue;
            };
            if !wanted.contains(&split) {
                continue;
            }
            let class = match parse_emotion(&emotion) {
                Ok(c) => c,
                Err((kind, detail)) => {
                    issues.report(kind, location, detail)?;
                    continue;
                }
            };
            if let Err(detail) = parse_pixels(record.get(cols[1]).unwrap_or_default(), &mut pixels) {
                issues.report(IssueKind::CorruptImage, location, detail)?;
                continue;
            }
            let slot = store.push(&pixels, line);
            slots.push((split, slot, class));
        }
        attach(&mut splits, &Arc::new(store), &mut slots);
    }
    Ok(splits)
}

/// Turns the pending slots of a finished store into samples.
fn attach(splits: &mut [SplitData], store: &Arc<PixelStore>, slots: &mut Vec<(Split, usize, usize)>) {
    for (split, slot, class) in slots.drain(..) {
        let data = splits
            .iter_mut()
            .find(|s| s.split == split)
            .expect("every split is present");
        data.push(
            ImageRef::Stored {
                store: Arc::clone(store),
                slot,
            },
            Label::hard(class),
        );
    }
}

/// Reads `fer2013_original_labels.csv` over the FERPlus PNG folders.
fn read_original_labels(root: &Path, train_override: Option<&Path>, issues: &mut Issues) -> Result<Vec<SplitData>> {
    let mut splits = new_splits();
    let main = root.join(ORIGINAL_LABELS);
    for (file, wanted) in sources(&main, train_override) {
        let (mut reader, cols) = open_csv(&file, &["Usage", "ferplus_image_name", "fer2013_emotion"])?;
        let mut record = csv::StringRecord::new();
        let mut seen = HashSet::new();
        while let Some(line) = super::next_record(&mut reader, &mut record, &file, issues)? {
            let location = format!("{}:{line}", file.display());
            let (Some(usage), Some(name), Some(emotion)) =
                (record.get(cols[0]), record.get(cols[1]), record.get(cols[2]))
            else {
                issues.report(
                    IssueKind::MalformedLine,
                    location,
                    format!("{} fields, expected 5", record.len()),
                )?;
                continue;
            };
            let Some(split) = usage_or_report(usage, &location, issues)? else {
                continue;
            };
            if !wanted.contains(&split) {
                continue;
            }
            let data = splits
                .iter_mut()
                .find(|s| s.split == split)
                .expect("every split is present");
            if emotion.trim() == "-1" {
                data.exclude(EXCLUDED_NO_LABEL);
                continue;
            }
            let class = match parse_emotion(emotion) {
                Ok(c) => c,
                Err((kind, detail)) => {
                    issues.report(kind, location, detail)?;
                    continue;
                }
            };
            let name = name.trim();
            if !issues.first_listing(&mut seen, name, &location)? {
                continue;
            }
            let image = root.join(super::ferplus::split_dir(split)).join(name);
            // (An empty name joins to the folder itself, which is not an image file.)
            if !issues.image_exists(&image, &location)? {
                continue;
            }
            data.push(ImageRef::File(image), Label::hard(class));
        }
    }
    Ok(splits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::write_png;

    fn pixels(v: u8) -> String {
        vec![v.to_string(); 2304].join(" ")
    }

    fn csv_text() -> String {
        format!(
            "emotion,pixels,Usage\n3,{},Training\n0,{},Training\n6,{},PublicTest\n5,{},PrivateTest\n",
            pixels(10),
            pixels(20),
            pixels(30),
            pixels(40)
        )
    }

    #[test]
    fn streams_the_csv_into_stored_images() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("fer2013.csv");
        std::fs::write(&csv, csv_text()).unwrap();
        for path in [csv.clone(), dir.path().to_path_buf()] {
            let ds = Dataset::open(&path, &OpenOptions::default()).unwrap();
            assert_eq!(ds.format, Format::Fer2013);
            let train = ds.split(Split::Train).unwrap();
            assert_eq!(train.samples.len(), 2);
            assert_eq!(
                ds.classes.get(train.samples[0].label.class).unwrap().name(),
                "happiness"
            );
            let img = train.samples[1].image.load().unwrap().to_luma8();
            assert_eq!(img.dimensions(), (48, 48));
            assert!(img.pixels().all(|p| p.0[0] == 20));
            assert!(train.samples[1].image.location().ends_with("fer2013.csv:3"));
            assert_eq!(ds.split(Split::Valid).unwrap().samples.len(), 1);
            assert_eq!(ds.split(Split::Test).unwrap().samples[0].label.class, 5);
        }
    }

    #[test]
    fn bad_rows_are_issues_with_lines() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("fer2013.csv");
        let text = format!(
            "{}7,{},Training\n2,1 2 3,Training\nx,{},Training\n2,{},Holdout\n2,{} 999,Training\n",
            csv_text(),
            pixels(1),
            pixels(1),
            pixels(1),
            pixels(1)
        );
        std::fs::write(&csv, text).unwrap();
        let ds = Dataset::open(&csv, &OpenOptions::default()).unwrap();
        assert_eq!(
            super::super::testutil::issue_lines(&ds),
            vec![
                (IssueKind::LabelOutOfRange, "6".into()),
                (IssueKind::CorruptImage, "7".into()),
                (IssueKind::MalformedLine, "8".into()),
                (IssueKind::MalformedLine, "9".into()),
                (IssueKind::CorruptImage, "10".into()),
            ]
        );
        assert_eq!(ds.split(Split::Train).unwrap().samples.len(), 2);
    }

    #[test]
    fn a_wrong_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("fer2013.csv");
        std::fs::write(&csv, "label,pixels,Usage\n3,1,Training\n").unwrap();
        let options = OpenOptions {
            format: Some(Format::Fer2013),
            ..Default::default()
        };
        let err = Dataset::open(&csv, &options).unwrap_err();
        assert!(
            err.to_string().contains("fer2013.csv:1") && err.to_string().contains("'emotion'"),
            "{err}"
        );
    }

    #[test]
    fn original_labels_over_ferplus_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (folder, name) in [
            ("FER2013Train", "fer0000000.png"),
            ("FER2013Train", "fer0000001.png"),
            ("FER2013Valid", "fer0000002.png"),
            ("FER2013Test", "fer0000003.png"),
        ] {
            write_png(&root.join(folder).join(name), 48, 2);
        }
        std::fs::write(
            root.join(ORIGINAL_LABELS),
            "row,Usage,ferplus_image_name,fer2013_emotion,status\n0,Training,fer0000000.png,0,unique\n\
             1,Training,,-1,no_ferplus_image\n2,Training,fer0000001.png,3,unique\n3,PublicTest,fer0000002.png,6,unique\n\
             4,PrivateTest,fer0000003.png,5,unique\n5,Training,fer0000001.png,2,dup\n",
        )
        .unwrap();
        let options = OpenOptions {
            format: Some(Format::Fer2013),
            ..Default::default()
        };
        let ds = Dataset::open(root, &options).unwrap();
        let train = ds.split(Split::Train).unwrap();
        assert_eq!(train.samples.len(), 2);
        assert_eq!(train.excluded.get(EXCLUDED_NO_LABEL), Some(&1));
        assert_eq!(ds.issues.len(), 1);
        assert_eq!(ds.issues[0].kind, IssueKind::Duplicate);
        assert!(
            ds.issues[0].location.ends_with(&format!("{ORIGINAL_LABELS}:7")),
            "{}",
            ds.issues[0]
        );
        assert_eq!(ds.split(Split::Test).unwrap().samples[0].label.class, 5);
    }

    #[test]
    fn train_labels_override_comes_from_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("fer2013.csv");
        std::fs::write(&csv, csv_text()).unwrap();
        let noisy = dir.path().join("noisy.csv");
        std::fs::write(&noisy, csv_text().replace("3,", "1,")).unwrap();
        let options = OpenOptions {
            train_labels: Some(noisy),
            ..Default::default()
        };
        let ds = Dataset::open(&csv, &options).unwrap();
        let train = ds.split(Split::Train).unwrap();
        assert_eq!(train.samples[0].label.class, 1);
        assert!(train.samples[0].image.location().contains("noisy.csv"));
        assert_eq!(ds.split(Split::Valid).unwrap().samples.len(), 1);
        assert!(
            ds.split(Split::Valid).unwrap().samples[0]
                .image
                .location()
                .contains("fer2013.csv")
        );
    }
}
