//! RAF-DB basic: `EmoLabel/list_patition_label.txt` (`train_00001.jpg 5`, labels 1..7 =
//! Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral) over `Image/aligned/
//! train_00001_aligned.jpg` (or `Image/original/train_00001.jpg`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{
    ClassList, Dataset, Format, ImageRef, IssueKind, Issues, Label, OpenOptions, RafdbImages, Split, SplitData,
};
use crate::error::{Error, Result};

/// Relative path of the label file inside the dataset root.
const LABEL_FILE: &str = "EmoLabel/list_patition_label.txt";

/// The dataset root that holds the label file: `path` itself or its `basic/` folder.
fn root_of(path: &Path) -> Option<PathBuf> {
    [path.to_path_buf(), path.join("basic")]
        .into_iter()
        .find(|r| r.join(LABEL_FILE).is_file())
}

/// The label file of a RAF-DB folder, if `path` is one.
pub(super) fn label_file(path: &Path) -> Option<PathBuf> {
    root_of(path).map(|r| r.join(LABEL_FILE))
}

/// One parsed label line.
pub(crate) struct Entry {
    pub split: Split,
    pub name: String,
    /// 0-based class index.
    pub class: usize,
}

/// Parses one line of `list_patition_label.txt`. `Ok(None)` for a blank line.
pub(crate) fn parse_line(line: &str) -> std::result::Result<Option<Entry>, (IssueKind, String)> {
    let mut fields = line.split_whitespace();
    let (Some(name), Some(label)) = (fields.next(), fields.next()) else {
        if line.trim().is_empty() {
            return Ok(None);
        }
        return Err((
            IssueKind::MalformedLine,
            format!("expected 'IMAGE LABEL', got '{}'", line.trim()),
        ));
    };
    if let Some(extra) = fields.next() {
        return Err((IssueKind::MalformedLine, format!("unexpected third field '{extra}'")));
    }
    let split = if name.starts_with("train_") {
        Split::Train
    } else if name.starts_with("test_") {
        Split::Test
    } else {
        return Err((
            IssueKind::MalformedLine,
            format!("image name '{name}' starts with neither train_ nor test_"),
        ));
    };
    let label: i64 = label
        .parse()
        .map_err(|_| (IssueKind::MalformedLine, format!("label '{label}' is not an integer")))?;
    if !(1..=7).contains(&label) {
        return Err((IssueKind::LabelOutOfRange, format!("label {label} is outside 1..7")));
    }
    Ok(Some(Entry {
        split,
        name: name.to_string(),
        class: (label - 1) as usize,
    }))
}

/// Opens RAF-DB basic.
pub(super) fn open(path: &Path, options: &OpenOptions) -> Result<Dataset> {
    let root = root_of(path).ok_or_else(|| Error::Missing {
        path: path.join(LABEL_FILE),
        what: "RAF-DB label file".into(),
    })?;
    let image_dir = match options.rafdb_images {
        RafdbImages::Aligned => root.join("Image").join("aligned"),
        RafdbImages::Original => root.join("Image").join("original"),
    };
    if !image_dir.is_dir() {
        return Err(Error::Missing {
            path: image_dir,
            what: "RAF-DB image folder".into(),
        });
    }
    let image_path = |name: &str| -> PathBuf {
        match options.rafdb_images {
            RafdbImages::Original => image_dir.join(name),
            RafdbImages::Aligned => {
                let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
                image_dir.join(format!("{stem}_aligned.jpg"))
            }
        }
    };

    let mut issues = Issues::new(options.strict);
    let mut train = SplitData::new(Split::Train);
    let mut test = SplitData::new(Split::Test);
    let main_file = root.join(LABEL_FILE);
    // The training split comes from the override file when there is one.
    let sources: Vec<(PathBuf, &[Split])> = match &options.train_labels {
        Some(file) => vec![(file.clone(), &[Split::Train]), (main_file, &[Split::Test])],
        None => vec![(main_file, &[Split::Train, Split::Test])],
    };
    for (file, wanted) in sources {
        let text = super::read_text(&file)?;
        let mut seen = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let location = format!("{}:{}", file.display(), i + 1);
            let entry = match parse_line(line) {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err((kind, detail)) => {
                    issues.report(kind, location, detail)?;
                    continue;
                }
            };
            if !wanted.contains(&entry.split) {
                continue;
            }
            if !issues.first_listing(&mut seen, &entry.name, &location)? {
                continue;
            }
            let image = image_path(&entry.name);
            if !issues.image_exists(&image, &location)? {
                continue;
            }
            let data = if entry.split == Split::Train {
                &mut train
            } else {
                &mut test
            };
            data.push(ImageRef::File(image), Label::hard(entry.class));
        }
    }
    Ok(Dataset {
        format: Format::Rafdb,
        description: format!(
            "RAF-DB basic, {} images, 7 classes",
            match options.rafdb_images {
                RafdbImages::Aligned => "aligned 100x100",
                RafdbImages::Original => "original",
            }
        ),
        root,
        classes: ClassList::rafdb(),
        splits: vec![train, test],
        issues: issues.into_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::data::testutil::write_jpg;

    /// A tiny RAF-DB: 4 train and 2 test images.
    fn make(dir: &Path, labels: &str) {
        std::fs::create_dir_all(dir.join("EmoLabel")).unwrap();
        std::fs::write(dir.join(LABEL_FILE), labels).unwrap();
        for name in [
            "train_00001",
            "train_00002",
            "train_00003",
            "train_00004",
            "test_0001",
            "test_0002",
        ] {
            write_jpg(&dir.join(format!("Image/aligned/{name}_aligned.jpg")), 100, 3);
            write_jpg(&dir.join(format!("Image/original/{name}.jpg")), 120, 3);
        }
    }

    const GOOD: &str = "train_00001.jpg 5\ntrain_00002.jpg 1\ntrain_00003.jpg 7\ntrain_00004.jpg 4\ntest_0001.jpg 4\ntest_0002.jpg 2\n";

    #[test]
    fn reads_splits_and_maps_labels_to_zero_based() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), GOOD);
        let ds = Dataset::open(dir.path(), &OpenOptions::default()).unwrap();
        assert_eq!(ds.format, Format::Rafdb);
        let train = ds.split(Split::Train).unwrap();
        assert_eq!(train.samples.len(), 4);
        // label 5 = Sadness, label 1 = Surprise.
        assert_eq!(ds.classes.get(train.samples[0].label.class).unwrap().name(), "sadness");
        assert_eq!(ds.classes.get(train.samples[1].label.class).unwrap().name(), "surprise");
        assert_eq!(train.class_counts(7), vec![1, 0, 0, 1, 1, 0, 1]);
        assert_eq!(ds.split(Split::Test).unwrap().samples.len(), 2);
        assert!(ds.split(Split::Valid).is_none());
        assert!(ds.issues.is_empty());
        let img = train.samples[0].image.load().unwrap();
        assert_eq!((img.width(), img.height()), (100, 100));
    }

    #[test]
    fn original_variant_uses_uncropped_images() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), GOOD);
        let options = OpenOptions {
            rafdb_images: RafdbImages::Original,
            ..Default::default()
        };
        let ds = Dataset::open(dir.path(), &options).unwrap();
        let img = ds.split(Split::Train).unwrap().samples[0].image.load().unwrap();
        assert_eq!(img.width(), 120);
    }

    #[test]
    fn bad_lines_are_counted_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let labels = "train_00001.jpg 5\ntrain_00002.jpg nine\ntrain_00003.jpg 8\ntrain_00001.jpg 5\n\
                      train_09999.jpg 3\nvalid_0001.jpg 1\ntest_0001.jpg 4\n";
        make(dir.path(), labels);
        let ds = Dataset::open(dir.path(), &OpenOptions::default()).unwrap();
        let kinds: Vec<_> = ds.issues.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            vec![
                IssueKind::MalformedLine,
                IssueKind::LabelOutOfRange,
                IssueKind::Duplicate,
                IssueKind::MissingImage,
                IssueKind::MalformedLine
            ]
        );
        assert!(
            ds.issues[0].location.ends_with("list_patition_label.txt:2"),
            "{}",
            ds.issues[0]
        );
        assert!(ds.issues[1].location.ends_with(":3"));
        assert_eq!(ds.split(Split::Train).unwrap().samples.len(), 1);
    }

    #[test]
    fn strict_turns_the_first_problem_into_an_error() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), "train_00001.jpg 5\ntrain_00002.jpg 0\n");
        let options = OpenOptions {
            strict: true,
            ..Default::default()
        };
        let err = Dataset::open(dir.path(), &options).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("list_patition_label.txt:2") && text.contains("outside 1..7"),
            "{text}"
        );
    }

    #[test]
    fn missing_image_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), GOOD);
        std::fs::remove_dir_all(dir.path().join("Image/aligned")).unwrap();
        let err = Dataset::open(dir.path(), &OpenOptions::default()).unwrap_err();
        assert!(err.to_string().contains("Image/aligned"), "{err}");
    }

    #[test]
    fn train_labels_override_replaces_only_the_training_split() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), GOOD);
        let noisy = dir.path().join("noisy.txt");
        std::fs::write(&noisy, "train_00001.jpg 1\ntrain_00002.jpg 1\ntest_0001.jpg 1\n").unwrap();
        let options = OpenOptions {
            train_labels: Some(noisy),
            ..Default::default()
        };
        let ds = Dataset::open(dir.path(), &options).unwrap();
        let train = ds.split(Split::Train).unwrap();
        assert_eq!(train.samples.len(), 2);
        assert!(train.samples.iter().all(|s| s.label.class == 0));
        // The test split still comes from the dataset's own file (label 4 = happiness, index 3).
        assert_eq!(ds.split(Split::Test).unwrap().samples[0].label.class, 3);
    }
}
