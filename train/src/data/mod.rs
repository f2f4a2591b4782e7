//! Expression datasets: one sample type, one class list per dataset, and readers for RAF-DB,
//! FERPlus, FER2013 and plain image folders.
//!
//! Readers index lazily: image files stay on disk until a sample is loaded; FER2013's CSV is
//! streamed once into a compact pixel store (2,304 bytes a face) and never held as text.
//! Problems with single items (a malformed line, a missing or corrupt image, a duplicate) are
//! [`Issue`]s: counted and skipped, or an error with [`OpenOptions::strict`]. Problems with the
//! dataset as a whole (a missing label file, nothing usable) are always errors.

pub mod augment;
pub mod batch;
pub mod check;
pub mod classes;
mod fer2013;
mod ferplus;
mod folder;
pub mod input;
pub mod noise;
mod rafdb;
pub mod synthetic;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::DynamicImage;
use serde::{Deserialize, Serialize};

pub use classes::{ClassList, Expression};
pub use ferplus::LabelMode;
pub use folder::{IMAGE_EXTENSIONS, has_image_extension};

use crate::error::{Error, Result};

/// A partition of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data (FER2013 PublicTest, FERPlus Valid).
    Valid,
    /// Test data (FER2013 PrivateTest, FERPlus Test, RAF-DB test).
    Test,
}

impl Split {
    /// All splits in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }

    /// Parses the names datasets and users use for splits ("val", "validation", "PublicTest", ...).
    pub fn parse(name: &str) -> Option<Split> {
        match name.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Split::Train),
            "val" | "valid" | "validation" | "publictest" => Some(Split::Valid),
            "test" | "testing" | "privatetest" => Some(Split::Test),
            _ => None,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The dataset layouts this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RAF-DB basic: `EmoLabel/list_patition_label.txt` and `Image/aligned` (or `original`).
    Rafdb,
    /// FERPlus: `FER2013Train|Valid|Test/label.csv` with the crowd votes, 8 classes.
    Ferplus,
    /// FER2013, 7 classes: `fer2013.csv`, or `fer2013_original_labels.csv` over FERPlus PNGs.
    Fer2013,
    /// One sub-folder per class, optionally inside `train/`, `val/`, `test/`.
    Folder,
}

impl Format {
    /// Lower-case name, as accepted by `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rafdb => "rafdb",
            Format::Ferplus => "ferplus",
            Format::Fer2013 => "fer2013",
            Format::Folder => "folder",
        }
    }

    /// Parses a `--format` value.
    pub fn parse(name: &str) -> Option<Format> {
        match name.trim().to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "rafdb" | "raf" => Some(Format::Rafdb),
            "ferplus" | "fer+" => Some(Format::Ferplus),
            "fer2013" | "fer" => Some(Format::Fer2013),
            "folder" | "imagefolder" | "folders" => Some(Format::Folder),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which RAF-DB images to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RafdbImages {
    /// `Image/aligned/*_aligned.jpg` (100x100, 5-point aligned), the SCN setting.
    #[default]
    Aligned,
    /// `Image/original/*.jpg`, the uncropped photos.
    Original,
}

/// How to open a dataset.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The layout; detected from the files when `None`.
    pub format: Option<Format>,
    /// FERPlus label mode (majority vote by default).
    pub label_mode: LabelMode,
    /// RAF-DB image variant.
    pub rafdb_images: RafdbImages,
    /// A label file that replaces the dataset's own for the training split (e.g. one written by
    /// [`noise::add_label_noise`]). Same format as the file it replaces.
    pub train_labels: Option<PathBuf>,
    /// Turn every [`Issue`] into an error instead of a counted skip.
    pub strict: bool,
}

/// A sample's target.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The class index in the dataset's [`ClassList`] (for soft labels, the most voted class).
    pub class: usize,
    /// For FERPlus `probability` and `crossentropy` modes: the normalised vote distribution
    /// over the classes.
    pub distribution: Option<Arc<[f32]>>,
}

impl Label {
    /// A hard label.
    pub fn hard(class: usize) -> Label {
        Label {
            class,
            distribution: None,
        }
    }
}

/// Decoded grey images held in memory (FER2013's CSV), addressed by slot.
#[derive(Debug)]
pub struct PixelStore {
    /// The file the pixels were read from.
    pub source: PathBuf,
    /// Width of every image.
    pub width: u32,
    /// Height of every image.
    pub height: u32,
    data: Vec<u8>,
    lines: Vec<u64>,
}

impl PixelStore {
    fn new(source: PathBuf, width: u32, height: u32) -> PixelStore {
        PixelStore {
            source,
            width,
            height,
            data: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn push(&mut self, pixels: &[u8], line: u64) -> usize {
        self.data.extend_from_slice(pixels);
        self.lines.push(line);
        self.lines.len() - 1
    }

    fn pixels(&self, slot: usize) -> Option<&[u8]> {
        let size = (self.width * self.height) as usize;
        self.data.get(slot * size..(slot + 1) * size)
    }
}

/// Where a sample's image is.
#[derive(Debug, Clone)]
pub enum ImageRef {
    /// An image file, decoded on load.
    File(PathBuf),
    /// A grey image in a [`PixelStore`].
    Stored {
        /// The store.
        store: Arc<PixelStore>,
        /// The image's slot in the store.
        slot: usize,
    },
}

impl ImageRef {
    /// Decodes the image. The error says what is wrong (the caller knows where: [`Self::location`]).
    pub fn load(&self) -> std::result::Result<DynamicImage, String> {
        match self {
            ImageRef::File(path) => load_image_file(path),
            ImageRef::Stored { store, slot } => {
                let pixels = store.pixels(*slot).ok_or("slot out of range")?;
                image::GrayImage::from_raw(store.width, store.height, pixels.to_vec())
                    .map(DynamicImage::ImageLuma8)
                    .ok_or_else(|| "pixel buffer has the wrong size".to_string())
            }
        }
    }

    /// Where the image is, for messages: a path, or a CSV file and line.
    pub fn location(&self) -> String {
        match self {
            ImageRef::File(path) => path.display().to_string(),
            ImageRef::Stored { store, slot } => {
                let line = store.lines.get(*slot).copied().unwrap_or(0);
                format!("{}:{line}", store.source.display())
            }
        }
    }
}

/// Decodes an image file, reporting unreadable, unknown, corrupt and truncated files as text.
fn load_image_file(path: &Path) -> std::result::Result<DynamicImage, String> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("not an image file this tool can decode (PNG, JPEG, BMP)".into());
    }
    crate::contain::catching_panics("the image decoder", || reader.decode())?.map_err(|e| e.to_string())
}

/// One labelled face: the image, its label, and its position in its split (the key of SCN's
/// label table).
#[derive(Debug, Clone)]
pub struct Sample {
    /// The image.
    pub image: ImageRef,
    /// The label as read from the dataset.
    pub label: Label,
    /// Position in the split, 0-based and dense.
    pub index: usize,
}

/// What kind of problem an [`Issue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A label line that cannot be parsed.
    MalformedLine,
    /// A label outside the dataset's classes.
    LabelOutOfRange,
    /// A labelled image that does not exist.
    MissingImage,
    /// An image that cannot be decoded (corrupt, truncated, not an image).
    CorruptImage,
    /// An image listed more than once.
    Duplicate,
    /// A class folder whose name is not an expression.
    UnknownClassFolder,
}

impl IssueKind {
    /// Short human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            IssueKind::MalformedLine => "malformed line",
            IssueKind::LabelOutOfRange => "label out of range",
            IssueKind::MissingImage => "missing image",
            IssueKind::CorruptImage => "corrupt image",
            IssueKind::Duplicate => "duplicate",
            IssueKind::UnknownClassFolder => "unknown class folder",
        }
    }
}

/// A problem with one item of a dataset. Its location names the file and, where there is one,
/// the line (`labels.txt:12`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// The kind of problem.
    pub kind: IssueKind,
    /// File, or file and line.
    pub location: String,
    /// What exactly is wrong.
    pub detail: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.kind.name(), self.detail)
    }
}

/// Collects issues, or fails on the first one in strict mode.
#[derive(Debug, Default)]
pub(crate) struct Issues {
    strict: bool,
    list: Vec<Issue>,
}

impl Issues {
    pub(crate) fn new(strict: bool) -> Issues {
        Issues {
            strict,
            list: Vec::new(),
        }
    }

    /// Records an issue; in strict mode returns it as an error.
    pub(crate) fn report(
        &mut self,
        kind: IssueKind,
        location: impl Into<String>,
        detail: impl Into<String>,
    ) -> Result<()> {
        let issue = Issue {
            kind,
            location: location.into(),
            detail: detail.into(),
        };
        if self.strict {
            return Err(Error::Strict(issue));
        }
        self.list.push(issue);
        Ok(())
    }

    /// Whether `name` is listed for the first time; a second listing is reported as a
    /// duplicate (an error in strict mode), and the caller skips it.
    pub(crate) fn first_listing(
        &mut self,
        seen: &mut std::collections::HashSet<String>,
        name: &str,
        location: &str,
    ) -> Result<bool> {
        if seen.insert(name.to_string()) {
            return Ok(true);
        }
        self.report(IssueKind::Duplicate, location, format!("'{name}' is listed again"))?;
        Ok(false)
    }

    /// A missing image is reported (an error in strict mode); true when `image` exists.
    pub(crate) fn image_exists(&mut self, image: &Path, location: &str) -> Result<bool> {
        if image.is_file() {
            return Ok(true);
        }
        self.report(
            IssueKind::MissingImage,
            location,
            format!("{} does not exist", image.display()),
        )?;
        Ok(false)
    }

    pub(crate) fn into_vec(self) -> Vec<Issue> {
        self.list
    }
}

/// The samples of one split, and what the label protocol left out.
#[derive(Debug, Clone)]
pub struct SplitData {
    /// Which split.
    pub split: Split,
    /// The usable samples, in file order.
    pub samples: Vec<Sample>,
    /// Items left out on purpose by the label protocol (not problems), counted by reason,
    /// e.g. FERPlus images whose votes have no majority.
    pub excluded: BTreeMap<String, usize>,
}

impl SplitData {
    fn new(split: Split) -> SplitData {
        SplitData {
            split,
            samples: Vec::new(),
            excluded: BTreeMap::new(),
        }
    }

    fn push(&mut self, image: ImageRef, label: Label) {
        let index = self.samples.len();
        self.samples.push(Sample { image, label, index });
    }

    fn exclude(&mut self, reason: &str) {
        *self.excluded.entry(reason.to_string()).or_default() += 1;
    }

    /// Number of samples per class index.
    pub fn class_counts(&self, num_classes: usize) -> Vec<usize> {
        let mut counts = vec![0; num_classes];
        for s in &self.samples {
            if let Some(c) = counts.get_mut(s.label.class) {
                *c += 1;
            }
        }
        counts
    }
}

/// An opened dataset: its classes, splits and the issues met while reading it.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The layout.
    pub format: Format,
    /// One line saying what was read ("FERPlus, majority vote, 8 classes").
    pub description: String,
    /// The folder (or file) that was opened.
    pub root: PathBuf,
    /// Class order of every label.
    pub classes: ClassList,
    /// The splits present, in [`Split`] order.
    pub splits: Vec<SplitData>,
    /// Items skipped while reading (empty in strict mode).
    pub issues: Vec<Issue>,
}

impl Dataset {
    /// Opens a dataset folder (or a `fer2013.csv` file), detecting its layout unless
    /// `options.format` says it.
    pub fn open(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Dataset> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::Missing {
                path: path.to_path_buf(),
                what: "dataset folder or file".into(),
            });
        }
        let format = match options.format {
            Some(f) => f,
            None => detect_format(path)?,
        };
        let mut dataset = match format {
            Format::Rafdb => rafdb::open(path, options)?,
            Format::Ferplus => ferplus::open(path, options)?,
            Format::Fer2013 => fer2013::open(path, options)?,
            Format::Folder => folder::open(path, options)?,
        };
        dataset
            .splits
            .retain(|s| !s.samples.is_empty() || !s.excluded.is_empty());
        dataset.splits.sort_by_key(|s| s.split);
        if dataset.splits.iter().all(|s| s.samples.is_empty()) {
            return Err(Error::Empty {
                path: path.to_path_buf(),
                what: "labelled images".into(),
            });
        }
        Ok(dataset)
    }

    /// The samples of one split, if the dataset has it.
    pub fn split(&self, split: Split) -> Option<&SplitData> {
        self.splits.iter().find(|s| s.split == split)
    }

    /// Total usable samples over all splits.
    pub fn len(&self) -> usize {
        self.splits.iter().map(|s| s.samples.len()).sum()
    }

    /// Whether no split has a sample (never for an opened dataset).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Detects the layout of a dataset folder or file.
pub fn detect_format(path: &Path) -> Result<Format> {
    if path.is_file() {
        if fer2013::is_fer2013_csv(path) {
            return Ok(Format::Fer2013);
        }
        return Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            hint: "a file must be a fer2013.csv with the header 'emotion,pixels,Usage'".into(),
        });
    }
    if rafdb::label_file(path).is_some() {
        return Ok(Format::Rafdb);
    }
    if path.join("FER2013Train").join("label.csv").is_file() {
        return Ok(Format::Ferplus);
    }
    if fer2013::csv_in(path).is_some() {
        return Ok(Format::Fer2013);
    }
    if folder::looks_like_folder_dataset(path) {
        return Ok(Format::Folder);
    }
    Err(Error::UnknownFormat {
        path: path.to_path_buf(),
        hint: "expected EmoLabel/list_patition_label.txt (RAF-DB), FER2013Train/label.csv (FERPlus), \
               fer2013.csv (FER2013) or one folder per expression"
            .into(),
    })
}

/// A CSV record type ([`csv::StringRecord`] or [`csv::ByteRecord`]).
pub(crate) trait CsvRecord {
    /// Reads the next record into `self`.
    fn read_from<R: std::io::Read>(&mut self, reader: &mut csv::Reader<R>) -> csv::Result<bool>;
}

impl CsvRecord for csv::StringRecord {
    fn read_from<R: std::io::Read>(&mut self, reader: &mut csv::Reader<R>) -> csv::Result<bool> {
        reader.read_record(self)
    }
}

impl CsvRecord for csv::ByteRecord {
    fn read_from<R: std::io::Read>(&mut self, reader: &mut csv::Reader<R>) -> csv::Result<bool> {
        reader.read_byte_record(self)
    }
}

/// Reads the next record of a label CSV and returns the 1-based line it starts on, or `None` at
/// the end of the file. Unparsable records are reported as malformed lines and skipped; I/O
/// errors end the reading with an error naming the file and line.
pub(crate) fn next_record<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    record: &mut impl CsvRecord,
    file: &Path,
    issues: &mut Issues,
) -> Result<Option<u64>> {
    loop {
        let line = reader.position().line();
        match record.read_from(reader) {
            Ok(true) => return Ok(Some(line)),
            Ok(false) => return Ok(None),
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                return Err(Error::Malformed {
                    path: file.to_path_buf(),
                    line: Some(line),
                    reason: e.to_string(),
                });
            }
            Err(e) => issues.report(
                IssueKind::MalformedLine,
                format!("{}:{line}", file.display()),
                e.to_string(),
            )?,
        }
    }
}

/// Reads a whole text file, naming it on error.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    use crate::error::IoContext;
    Ok(std::fs::read_to_string(path).at(path)?)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers that write small synthetic datasets for the readers' tests.
    use std::path::Path;

    /// Each issue of `ds` as its kind and the line number that ends its location.
    pub fn issue_lines(ds: &super::Dataset) -> Vec<(super::IssueKind, String)> {
        ds.issues
            .iter()
            .map(|i| (i.kind, i.location.rsplit(':').next().unwrap_or_default().to_string()))
            .collect()
    }

    /// Writes a `size`x`size` grey PNG whose pixels depend on `seed`.
    pub fn write_png(path: &Path, size: u32, seed: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let img = image::GrayImage::from_fn(size, size, |x, y| {
            image::Luma([(x as u8).wrapping_mul(7) ^ (y as u8) ^ seed])
        });
        img.save(path).unwrap();
    }

    /// Writes an RGB JPEG.
    pub fn write_jpg(path: &Path, size: u32, seed: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let img = image::RgbImage::from_fn(size, size, |x, y| image::Rgb([x as u8, y as u8, seed]));
        img.save(path).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_format_names_parse() {
        assert_eq!(Split::parse("PublicTest"), Some(Split::Valid));
        assert_eq!(Split::parse("val"), Some(Split::Valid));
        assert_eq!(Split::parse("Training"), Some(Split::Train));
        assert_eq!(Split::parse("holdout"), None);
        assert_eq!(Format::parse("RAF-DB"), Some(Format::Rafdb));
        assert_eq!(Format::parse("FER+"), Some(Format::Ferplus));
        assert_eq!(Format::parse("image_folder"), Some(Format::Folder));
    }

    #[test]
    fn missing_dataset_is_a_clear_error() {
        let err = Dataset::open("/nonexistent/scn-data", &OpenOptions::default()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/scn-data"), "{err}");
    }

    #[test]
    fn unknown_layout_names_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("readme.txt"), "hello").unwrap();
        let err = Dataset::open(dir.path(), &OpenOptions::default()).unwrap_err();
        assert!(matches!(err, Error::UnknownFormat { .. }), "{err}");
        assert!(err.to_string().contains("list_patition_label.txt"), "{err}");
    }

    #[test]
    fn truncated_and_fake_images_do_not_decode() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("a.png");
        testutil::write_png(&png, 48, 1);
        let bytes = std::fs::read(&png).unwrap();
        std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
        assert!(ImageRef::File(png).load().is_err());

        let jpg = dir.path().join("b.jpg");
        testutil::write_jpg(&jpg, 64, 1);
        let bytes = std::fs::read(&jpg).unwrap();
        std::fs::write(&jpg, &bytes[..bytes.len() / 3]).unwrap();
        assert!(ImageRef::File(jpg).load().is_err());

        let fake = dir.path().join("c.png");
        std::fs::write(&fake, "not an image at all").unwrap();
        assert!(ImageRef::File(fake).load().is_err());
    }
}
