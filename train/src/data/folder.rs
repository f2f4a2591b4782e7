//! Image folders: one sub-folder per expression (`happy/`, `Sadness/`, ...), either directly in
//! the root (everything is training data) or inside split folders (`train/`, `val/`, `test/`).
//! The class order is the canonical order of the expressions found (see [`Expression`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{
    ClassList, Dataset, Expression, Format, ImageRef, IssueKind, Issues, Label, OpenOptions, Split, SplitData,
};
use crate::error::{Error, IoContext, Result};

/// File extensions read as images (any case), by the folder reader and by `scn run --images`.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Sub-folders of `dir`, sorted by name.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if path.is_dir() && !is_hidden(&path) {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether `dir` has expression folders, or split folders holding them.
pub(super) fn looks_like_folder_dataset(dir: &Path) -> bool {
    let Ok(dirs) = subdirs(dir) else { return false };
    dirs.iter().any(|d| {
        let name = name_of(d);
        Expression::parse(&name).is_some()
            || (Split::parse(&name).is_some()
                && subdirs(d).is_ok_and(|s| s.iter().any(|c| Expression::parse(&name_of(c)).is_some())))
    })
}

/// Opens an image-folder dataset.
pub(super) fn open(root: &Path, options: &OpenOptions) -> Result<Dataset> {
    if options.train_labels.is_some() {
        return Err(Error::InvalidArgument(
            "--train-labels does not apply to image folders (their labels are the folder names)".into(),
        ));
    }
    let mut issues = Issues::new(options.strict);
    let top = subdirs(root)?;
    let split_dirs: Vec<(Split, PathBuf)> = top
        .iter()
        .filter_map(|d| Split::parse(&name_of(d)).map(|s| (s, d.clone())))
        .collect();
    let layout: Vec<(Split, PathBuf)> = if split_dirs.is_empty() {
        vec![(Split::Train, root.to_path_buf())]
    } else {
        split_dirs
    };
    if layout.len() < top.len() && layout[0].1 != root {
        for d in top.iter().filter(|d| Split::parse(&name_of(d)).is_none()) {
            issues.report(
                IssueKind::UnknownClassFolder,
                d.display().to_string(),
                "a folder beside the split folders that is not a split (train, val, test)",
            )?;
        }
    }
    // First pass: the class folders of every split, to fix the class order.
    let mut found: Vec<(Split, Expression, PathBuf)> = Vec::new();
    let mut seen_splits = BTreeSet::new();
    for (split, dir) in &layout {
        if !seen_splits.insert(*split) {
            issues.report(
                IssueKind::Duplicate,
                dir.display().to_string(),
                format!("a second folder for the {split} split"),
            )?;
            continue;
        }
        let mut seen_classes = BTreeSet::new();
        for class_dir in subdirs(dir)? {
            let name = name_of(&class_dir);
            let Some(expression) = Expression::parse(&name) else {
                issues.report(
                    IssueKind::UnknownClassFolder,
                    class_dir.display().to_string(),
                    format!(
                        "'{name}' is not an expression (known: {})",
                        Expression::ALL.map(|e| e.name()).join(", ")
                    ),
                )?;
                continue;
            };
            if !seen_classes.insert(expression) {
                issues.report(
                    IssueKind::Duplicate,
                    class_dir.display().to_string(),
                    format!("a second folder for {expression}"),
                )?;
                continue;
            }
            found.push((*split, expression, class_dir));
        }
    }
    let present: BTreeSet<Expression> = found.iter().map(|(_, e, _)| *e).collect();
    let classes = ClassList::new(present.into_iter().collect()).map_err(|_| Error::Empty {
        path: root.to_path_buf(),
        what: "expression folders".into(),
    })?;

    let mut splits: Vec<SplitData> = Split::ALL.iter().map(|&s| SplitData::new(s)).collect();
    found.sort_by_key(|(split, expression, _)| (*split, *expression));
    for (split, expression, class_dir) in found {
        let class = classes.index_of(expression).expect("every found class is in the list");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&class_dir).at(&class_dir)? {
            let path = entry.at(&class_dir)?.path();
            if path.is_file() && !is_hidden(&path) && has_image_extension(&path) {
                files.push(path);
            }
        }
        files.sort();
        let data = splits
            .iter_mut()
            .find(|s| s.split == split)
            .expect("every split is present");
        for file in files {
            data.push(ImageRef::File(file), Label::hard(class));
        }
    }
    Ok(Dataset {
        format: Format::Folder,
        description: format!("image folders, {} classes", classes.len()),
        root: root.to_path_buf(),
        classes,
        splits,
        issues: issues.into_vec(),
    })
}

/// Whether a path has one of the [`IMAGE_EXTENSIONS`].
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{write_jpg, write_png};

    #[test]
    fn class_folders_without_splits_are_training_data() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("Sad/1.png"), 32, 1);
        write_jpg(&dir.path().join("happy/2.JPG"), 32, 2);
        write_jpg(&dir.path().join("happy/3.jpg"), 32, 3);
        std::fs::write(dir.path().join("happy/notes.txt"), "x").unwrap();
        let ds = Dataset::open(dir.path(), &OpenOptions::default()).unwrap();
        assert_eq!(ds.format, Format::Folder);
        // Canonical order: happiness before sadness.
        assert_eq!(ds.classes.names(), vec!["happiness", "sadness"]);
        let train = ds.split(Split::Train).unwrap();
        assert_eq!(train.class_counts(2), vec![2, 1]);
        assert!(ds.split(Split::Test).is_none());
    }

    #[test]
    fn split_folders_and_unknown_classes() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("train/angry/1.png"), 32, 1);
        write_png(&dir.path().join("train/neutral/1.png"), 32, 1);
        write_png(&dir.path().join("train/bored/1.png"), 32, 1);
        write_png(&dir.path().join("val/angry/1.png"), 32, 1);
        write_png(&dir.path().join("test/neutral/1.png"), 32, 1);
        let ds = Dataset::open(dir.path(), &OpenOptions::default()).unwrap();
        assert_eq!(ds.classes.names(), vec!["neutral", "anger"]);
        assert_eq!(ds.split(Split::Train).unwrap().samples.len(), 2);
        assert_eq!(ds.split(Split::Valid).unwrap().samples[0].label.class, 1);
        assert_eq!(ds.issues.len(), 1);
        assert_eq!(ds.issues[0].kind, IssueKind::UnknownClassFolder);
        assert!(ds.issues[0].location.ends_with("bored"));

        let strict = OpenOptions {
            strict: true,
            ..Default::default()
        };
        let err = Dataset::open(dir.path(), &strict).unwrap_err();
        assert!(err.to_string().contains("'bored' is not an expression"), "{err}");
    }

    #[test]
    fn two_folders_for_one_expression_are_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("happy/1.png"), 32, 1);
        write_png(&dir.path().join("happiness/1.png"), 32, 1);
        let ds = Dataset::open(dir.path(), &OpenOptions::default()).unwrap();
        assert_eq!(ds.issues[0].kind, IssueKind::Duplicate);
        assert_eq!(ds.len(), 1);
    }
}
