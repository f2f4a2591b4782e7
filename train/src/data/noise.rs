//! Synthetic label noise (`scn data noise`), the SCN paper's experiment: for each class, a given
//! fraction of its training labels is changed to a different class drawn at random. The output
//! is a copy of the label file, byte for byte except the flipped labels, so that it can replace
//! the original (`--train-labels`); a record lists every flip so that relabeling can be scored.
//!
//! The paper draws the new class uniformly. [`FlipTargets::Confusable`] draws it with the odds a
//! model confuses the two classes (the off-diagonal row of its confusion matrix, from `scn eval
//! --json`): noise that lands where annotators go wrong, on the classes that look alike.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::classes::{ClassList, Expression};
use super::ferplus::{self, LabelMode};
use super::rafdb;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_atomically;
use crate::metrics::Confusion;

/// The label-file formats that can be made noisy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelFile {
    /// RAF-DB `list_patition_label.txt`; `train_*` lines are training labels.
    RafdbList,
    /// A FERPlus `label.csv` (normally `FER2013Train/label.csv`); every row with a majority
    /// label is a training label. A flip swaps the vote counts of the two classes.
    FerplusVotes,
    /// `fer2013.csv`; rows with Usage `Training`.
    Fer2013Csv,
    /// `fer2013_original_labels.csv`; rows with Usage `Training` and a label.
    Fer2013Original,
}

impl LabelFile {
    /// The classes its labels index.
    pub fn classes(self) -> ClassList {
        match self {
            LabelFile::RafdbList => ClassList::rafdb(),
            LabelFile::FerplusVotes => ClassList::ferplus(),
            LabelFile::Fer2013Csv | LabelFile::Fer2013Original => ClassList::fer2013(),
        }
    }

    /// Recognises a label file from its first line.
    pub fn detect(path: &Path) -> Result<LabelFile> {
        let file = File::open(path).at(path)?;
        let mut first = String::new();
        BufReader::new(file).read_line(&mut first).at(path)?;
        let first = first.trim_start_matches('\u{feff}').trim_end();
        if first.starts_with("emotion,pixels") {
            Ok(LabelFile::Fer2013Csv)
        } else if first.starts_with("row,Usage,ferplus_image_name") {
            Ok(LabelFile::Fer2013Original)
        } else if matches!(rafdb::parse_line(first), Ok(Some(_))) {
            Ok(LabelFile::RafdbList)
        } else if parse_csv_line(first.as_bytes()).is_some_and(|r| ferplus::parse_record(&r).is_ok()) {
            Ok(LabelFile::FerplusVotes)
        } else {
            Err(Error::UnknownFormat {
                path: path.to_path_buf(),
                hint: "expected a RAF-DB list_patition_label.txt, a FERPlus label.csv, fer2013.csv or fer2013_original_labels.csv".into(),
            })
        }
    }
}

/// Parses one CSV line into a record.
fn parse_csv_line(line: &[u8]) -> Option<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line);
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Some(record),
        _ => None,
    }
}

/// Writes a record as one CSV line, quoting only where needed (FERPlus's box column).
fn write_csv_line(record: &csv::StringRecord) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(record);
    let mut bytes = writer.into_inner().unwrap_or_default();
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}

/// Options of [`add_label_noise`].
#[derive(Debug, Clone)]
pub struct NoiseOptions {
    /// Fraction of each class's training labels to flip, in (0, 1).
    pub ratio: f64,
    /// Seed of the random choice (same seed, same flips).
    pub seed: u64,
    /// Where to write the record of flips; `None`: `<output stem>.flips.csv` beside the output.
    pub record: Option<PathBuf>,
    /// Overwrite existing output files.
    pub force: bool,
    /// Where a flipped label goes.
    pub targets: FlipTargets,
}

/// Where a flipped label goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum FlipTargets {
    /// Any other class with equal odds (the SCN paper's synthetic noise).
    #[default]
    Uniform,
    /// Another class with odds in proportion to how often a model takes one for the other.
    Confusable(Confusions),
}

/// A model's confusions between the classes of a label file, as odds for the flips:
/// `weights[from][to]` (the diagonal is zero).
#[derive(Debug, Clone, PartialEq)]
pub struct Confusions {
    /// The file they were read from.
    pub source: PathBuf,
    /// Per true class (the label file's order), the weight of each other class.
    pub weights: Vec<Vec<f64>>,
}

impl Confusions {
    /// Reads the confusion matrix of an `scn eval --json` output (`classes` and
    /// `confusion.counts`, rows the true class) and orders it as `classes`, matching the
    /// classes by name: a FERPlus model's evaluation serves a FER2013 label file. Fails,
    /// naming the file, when a class of `classes` is not in it or the matrix is malformed.
    pub fn from_eval_json(path: &Path, classes: &ClassList) -> Result<Confusions> {
        let malformed = |reason: String| Error::Malformed {
            path: path.to_path_buf(),
            line: None,
            reason,
        };
        /// The part of an `scn eval --json` output the flips need.
        #[derive(Deserialize)]
        struct EvalReport {
            classes: Vec<String>,
            confusion: Confusion,
        }
        let text = std::fs::read_to_string(path).at(path)?;
        let report: EvalReport =
            serde_json::from_str(&text).map_err(|e| malformed(format!("{e}; give the output of `scn eval --json`")))?;
        let (names, counts) = (&report.classes, &report.confusion.counts);
        if names.is_empty() || counts.len() != names.len() || counts.iter().any(|r| r.len() != names.len()) {
            return Err(malformed(format!(
                "no `classes` with a square `confusion.counts` of as many rows ({} classes, {} rows); give the output of \
                 `scn eval --json`",
                names.len(),
                counts.len()
            )));
        }
        let position = |e: Expression| names.iter().position(|n| Expression::parse(n) == Some(e));
        let mut index = Vec::with_capacity(classes.len());
        for &e in classes.as_slice() {
            index.push(position(e).ok_or_else(|| {
                malformed(format!(
                    "has no class '{e}' (it has {}); the label file needs {}",
                    names.join(", "),
                    classes.names().join(", ")
                ))
            })?);
        }
        let weights = index
            .iter()
            .enumerate()
            .map(|(from, &row)| {
                index
                    .iter()
                    .enumerate()
                    .map(|(to, &col)| if to == from { 0.0 } else { counts[row][col] as f64 })
                    .collect()
            })
            .collect();
        Ok(Confusions {
            source: path.to_path_buf(),
            weights,
        })
    }

    /// A class other than `from`, drawn with the odds of `from`'s row; uniformly where the row
    /// has no confusion at all.
    fn draw(&self, from: usize, rng: &mut impl Rng) -> usize {
        let row = &self.weights[from];
        let total: f64 = row.iter().sum();
        if total <= 0.0 {
            return uniform_other(from, row.len(), rng);
        }
        let mut at = rng.random::<f64>() * total;
        for (to, &w) in row.iter().enumerate() {
            if w > 0.0 && at < w {
                return to;
            }
            at -= w;
        }
        // Rounding left `at` past the last weight: the last class with one.
        row.iter().rposition(|&w| w > 0.0).unwrap_or(from)
    }

    /// The classes whose row has no confusion (their flips are drawn uniformly).
    pub fn unconfused(&self) -> Vec<usize> {
        (0..self.weights.len())
            .filter(|&c| self.weights[c].iter().sum::<f64>() <= 0.0)
            .collect()
    }
}

/// A class other than `from` of `n`, with equal odds.
fn uniform_other(from: usize, n: usize, rng: &mut impl Rng) -> usize {
    let new = rng.random_range(0..n - 1);
    if new >= from { new + 1 } else { new }
}

/// One class's share of the flips.
#[derive(Debug, Clone, Serialize)]
pub struct ClassNoise {
    /// Class name.
    pub class: &'static str,
    /// Training labels of this class.
    pub labels: usize,
    /// How many of them were flipped.
    pub flipped: usize,
    /// Labels of other classes flipped to this one.
    pub flipped_in: usize,
}

impl ClassNoise {
    /// Its own labels that were not flipped: the right ones among those saying it.
    pub fn kept(&self) -> usize {
        self.labels - self.flipped
    }

    /// Labels that say this class in the noisy file: the kept ones and the ones flipped in.
    pub fn noisy_labels(&self) -> usize {
        self.kept() + self.flipped_in
    }

    /// The share of the noisy labels saying this class that are right (1 when there are none).
    /// Uniform flips from frequent classes can make a rare class's labels mostly wrong.
    pub fn right_share(&self) -> f64 {
        match self.noisy_labels() {
            0 => 1.0,
            n => self.kept() as f64 / n as f64,
        }
    }
}

/// What [`add_label_noise`] did.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseSummary {
    /// The input's format.
    pub format: LabelFile,
    /// Training labels found.
    pub labels: usize,
    /// Labels flipped.
    pub flipped: usize,
    /// Per class.
    pub per_class: Vec<ClassNoise>,
    /// The noisy label file.
    pub output: PathBuf,
    /// The record of flips (CSV: line, image, original, noisy).
    pub record: PathBuf,
    /// With [`FlipTargets::Confusable`]: the evaluation whose confusions the flips followed.
    pub confusions: Option<PathBuf>,
    /// With [`FlipTargets::Confusable`]: classes that evaluation never confused with another
    /// (their flips were drawn uniformly).
    pub unconfused: Vec<&'static str>,
}

/// A training label found in the input.
struct Candidate {
    line: u64,
    image: String,
    class: usize,
}

/// The default record path for an output file.
pub fn default_record_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "labels".into());
    output.with_file_name(format!("{stem}.flips.csv"))
}

/// Writes a copy of `input` to `output` with `options.ratio` of each class's training labels
/// changed to another class, and a record of the flips.
pub fn add_label_noise(input: &Path, output: &Path, options: &NoiseOptions) -> Result<NoiseSummary> {
    if !(options.ratio > 0.0 && options.ratio < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "--ratio must be between 0 and 1 (exclusive), got {}",
            options.ratio
        )));
    }
    let record = options.record.clone().unwrap_or_else(|| default_record_path(output));
    let input_real = input.canonicalize().at(input)?;
    for target in [output, record.as_path()] {
        if target.canonicalize().is_ok_and(|t| t == input_real) {
            return Err(Error::InvalidArgument(format!(
                "{} is the input file: write the noisy copy elsewhere",
                target.display()
            )));
        }
        if target.exists() && !options.force {
            return Err(Error::InvalidArgument(format!(
                "{} exists (use --force to overwrite)",
                target.display()
            )));
        }
    }
    let format = LabelFile::detect(input)?;
    let classes = format.classes();

    // Pass 1: the training labels.
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut columns = Columns::default();
    for_each_line(input, |number, line| {
        if let Some(c) = training_label(format, number, line, &mut columns).map_err(|reason| Error::Malformed {
            path: input.to_path_buf(),
            line: Some(number),
            reason,
        })? {
            candidates.push(c);
        }
        Ok(())
    })?;
    if candidates.is_empty() {
        return Err(Error::Empty {
            path: input.to_path_buf(),
            what: "training labels".into(),
        });
    }

    // The flips: per class, round(ratio * n) labels, each to a different class.
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut flips: Vec<(usize, usize)> = Vec::new(); // (candidate, new class)
    let mut per_class = Vec::new();
    for class in 0..classes.len() {
        let members: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].class == class)
            .collect();
        let count = (options.ratio * members.len() as f64).round() as usize;
        for pick in rand::seq::index::sample(&mut rng, members.len(), count).into_vec() {
            let new = match &options.targets {
                FlipTargets::Uniform => uniform_other(class, classes.len(), &mut rng),
                FlipTargets::Confusable(confusions) => confusions.draw(class, &mut rng),
            };
            flips.push((members[pick], new));
        }
        per_class.push(ClassNoise {
            class: classes.as_slice()[class].name(),
            labels: members.len(),
            flipped: count,
            flipped_in: 0,
        });
    }
    for &(_, new) in &flips {
        per_class[new].flipped_in += 1;
    }
    flips.sort_by_key(|&(i, _)| candidates[i].line);

    // Pass 2: copy, rewriting the flipped lines.
    let mut next = flips.iter().peekable();
    write_atomically(output, |out| {
        for_each_line(input, |number, line| match next.peek() {
            Some(&&(i, new)) if candidates[i].line == number => {
                next.next();
                let (body, ending) = split_line_ending(line);
                let rewritten = rewrite(format, body, candidates[i].class, new, &columns);
                out.write_all(&rewritten).at(output)?;
                Ok(out.write_all(ending).at(output)?)
            }
            _ => Ok(out.write_all(line).at(output)?),
        })
    })?;
    write_atomically(&record, |out| {
        writeln!(out, "line,image,original_label,noisy_label,original_class,noisy_class").at(&record)?;
        for &(i, new) in &flips {
            let c = &candidates[i];
            writeln!(
                out,
                "{},{},{},{},{},{}",
                c.line,
                c.image,
                label_value(format, c.class),
                label_value(format, new),
                classes.as_slice()[c.class].name(),
                classes.as_slice()[new].name()
            )
            .at(&record)?;
        }
        Ok(())
    })?;
    let (confusions, unconfused) = match &options.targets {
        FlipTargets::Uniform => (None, Vec::new()),
        FlipTargets::Confusable(c) => (
            Some(c.source.clone()),
            c.unconfused()
                .into_iter()
                .map(|i| classes.as_slice()[i].name())
                .collect(),
        ),
    };
    Ok(NoiseSummary {
        format,
        labels: candidates.len(),
        flipped: flips.len(),
        per_class,
        output: output.to_path_buf(),
        record,
        confusions,
        unconfused,
    })
}

/// One line of a flip record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flip {
    /// Line of the label file.
    pub line: u64,
    /// The image (file name, or `line N` for fer2013.csv rows).
    pub image: String,
    /// The clean class name.
    pub original_class: String,
    /// The class it was flipped to.
    pub noisy_class: String,
}

/// Reads a flip record written by [`add_label_noise`].
pub fn read_record(path: &Path) -> Result<Vec<Flip>> {
    let text = crate::data::read_text(path)?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("line,image,original_label,noisy_label,original_class,noisy_class") {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            line: Some(1),
            reason: "not a flip record of `scn data noise`".into(),
        });
    }
    let mut flips = Vec::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let parsed = (f.len() == 6).then(|| f[0].parse::<u64>().ok()).flatten();
        let Some(number) = parsed else {
            return Err(Error::Malformed {
                path: path.to_path_buf(),
                line: Some(i as u64 + 2),
                reason: "expected 6 fields".into(),
            });
        };
        flips.push(Flip {
            line: number,
            image: f[1].to_string(),
            original_class: f[4].to_string(),
            noisy_class: f[5].to_string(),
        });
    }
    Ok(flips)
}

/// How a class index is written in the file (RAF-DB counts from 1).
fn label_value(format: LabelFile, class: usize) -> usize {
    match format {
        LabelFile::RafdbList => class + 1,
        _ => class,
    }
}

/// Column positions read from a CSV header.
#[derive(Default)]
struct Columns {
    emotion: usize,
    usage: usize,
    name: Option<usize>,
}

fn column(header: &csv::StringRecord, name: &str) -> std::result::Result<usize, String> {
    header
        .iter()
        .position(|h| h.trim_start_matches('\u{feff}').trim().eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("no '{name}' column in the header"))
}

/// The training label on line `number`, if that line has one.
fn training_label(
    format: LabelFile,
    number: u64,
    line: &[u8],
    columns: &mut Columns,
) -> std::result::Result<Option<Candidate>, String> {
    let (body, _) = split_line_ending(line);
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8 text".to_string())?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    match format {
        LabelFile::RafdbList => {
            let entry = rafdb::parse_line(text).map_err(|(_, detail)| detail)?;
            Ok(entry.filter(|e| e.split == super::Split::Train).map(|e| Candidate {
                line: number,
                image: e.name,
                class: e.class,
            }))
        }
        LabelFile::FerplusVotes => {
            let record = parse_csv_line(body).ok_or("not a CSV line")?;
            let row = ferplus::parse_record(&record)?;
            Ok(ferplus::process_votes(&row.votes, LabelMode::Majority)
                .ok()
                .map(|d| Candidate {
                    line: number,
                    image: row.name,
                    class: d.iter().position(|&p| p == 1.0).unwrap_or(0),
                }))
        }
        LabelFile::Fer2013Csv | LabelFile::Fer2013Original => {
            let record = parse_csv_line(body).ok_or("not a CSV line")?;
            if number == 1 {
                let emotion = if format == LabelFile::Fer2013Csv {
                    "emotion"
                } else {
                    "fer2013_emotion"
                };
                columns.emotion = column(&record, emotion)?;
                columns.usage = column(&record, "Usage")?;
                columns.name = column(&record, "ferplus_image_name").ok();
                return Ok(None);
            }
            let usage = record.get(columns.usage).ok_or("missing Usage field")?;
            let emotion = record.get(columns.emotion).ok_or("missing emotion field")?.trim();
            if usage.trim() != "Training" || emotion == "-1" {
                return Ok(None);
            }
            let class: usize = emotion
                .parse()
                .map_err(|_| format!("emotion '{emotion}' is not an integer"))?;
            if class > 6 {
                return Err(format!("emotion {class} is outside 0..6"));
            }
            let image = match columns.name {
                Some(i) => record.get(i).unwrap_or_default().to_string(),
                None => format!("line {number}"),
            };
            Ok(Some(Candidate {
                line: number,
                image,
                class,
            }))
        }
    }
}

/// The line with `from` relabelled as `to`.
fn rewrite(format: LabelFile, body: &[u8], from: usize, to: usize, columns: &Columns) -> Vec<u8> {
    match format {
        LabelFile::RafdbList => {
            let text = String::from_utf8_lossy(body);
            let name = text.split_whitespace().next().unwrap_or_default();
            format!("{name} {}", to + 1).into_bytes()
        }
        LabelFile::FerplusVotes => {
            let Some(record) = parse_csv_line(body) else {
                return body.to_vec();
            };
            let mut fields: Vec<String> = record.iter().map(str::to_string).collect();
            fields.swap(2 + from, 2 + to);
            write_csv_line(&csv::StringRecord::from(fields))
        }
        LabelFile::Fer2013Csv | LabelFile::Fer2013Original => {
            let Some(record) = parse_csv_line(body) else {
                return body.to_vec();
            };
            let mut fields: Vec<String> = record.iter().map(str::to_string).collect();
            fields[columns.emotion] = to.to_string();
            write_csv_line(&csv::StringRecord::from(fields))
        }
    }
}

/// Splits `\n` or `\r\n` off a line.
fn split_line_ending(line: &[u8]) -> (&[u8], &[u8]) {
    let mut end = line.len();
    if line[..end].ends_with(b"\n") {
        end -= 1;
    }
    if line[..end].ends_with(b"\r") {
        end -= 1;
    }
    line.split_at(end)
}

/// Calls `f(line_number, line_with_its_ending)` for each line of a file, streaming.
fn for_each_line(path: &Path, mut f: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).at(path)?);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).at(path)? == 0 {
            return Ok(());
        }
        number += 1;
        f(number, &line)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(ratio: f64, seed: u64) -> NoiseOptions {
        NoiseOptions {
            ratio,
            seed,
            record: None,
            force: false,
            targets: FlipTargets::Uniform,
        }
    }

    /// An `scn eval --json`-like file: FERPlus's 8 classes, `pairs` of (true, predicted, count)
    /// off the diagonal.
    fn eval_json(path: &Path, pairs: &[(&str, &str, u64)]) {
        let names = ClassList::ferplus().names();
        let n = names.len();
        let mut counts: Vec<Vec<u64>> = (0..n)
            .map(|i| (0..n).map(|j| if i == j { 50 } else { 0 }).collect())
            .collect();
        for (t, p, n) in pairs {
            let at = |c: &str| names.iter().position(|n| n == &c).unwrap();
            counts[at(t)][at(p)] = *n;
        }
        let json = serde_json::json!({"classes": names, "accuracy": 0.8, "confusion": {"counts": counts}});
        std::fs::write(path, json.to_string()).unwrap();
    }

    #[test]
    fn confusable_flips_go_where_the_model_goes_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("list_patition_label.txt");
        std::fs::write(&input, rafdb_list(700)).unwrap();
        let eval = dir.path().join("eval.json");
        // Surprise is only ever taken for fear, fear for surprise (3) or sadness (1), happiness
        // for neutral; disgust is never confused (uniform).
        eval_json(
            &eval,
            &[
                ("surprise", "fear", 9),
                ("fear", "surprise", 30),
                ("fear", "sadness", 10),
                ("happiness", "neutral", 4),
                ("sadness", "neutral", 2),
                ("anger", "disgust", 1),
                ("neutral", "sadness", 5),
            ],
        );
        let classes = LabelFile::RafdbList.classes();
        let confusions = Confusions::from_eval_json(&eval, &classes).unwrap();
        let mut opts = options(0.2, 3);
        opts.targets = FlipTargets::Confusable(confusions);
        let summary = add_label_noise(&input, &dir.path().join("noisy.txt"), &opts).unwrap();
        assert_eq!(summary.confusions.as_deref(), Some(eval.as_path()));
        assert_eq!(summary.unconfused, vec!["disgust"]);
        let flips = read_record(&summary.record).unwrap();
        assert_eq!(flips.len(), 140);
        let went = |from: &str| -> Vec<&str> {
            flips
                .iter()
                .filter(|f| f.original_class == from)
                .map(|f| f.noisy_class.as_str())
                .collect()
        };
        assert!(went("surprise").iter().all(|&c| c == "fear"));
        assert!(went("happiness").iter().all(|&c| c == "neutral"));
        assert!(went("anger").iter().all(|&c| c == "disgust"));
        let fear = went("fear");
        let to_surprise = fear.iter().filter(|&&c| c == "surprise").count();
        assert_eq!(to_surprise + fear.iter().filter(|&&c| c == "sadness").count(), 20);
        assert!(to_surprise > 10, "{fear:?}");
        // Disgust's flips spread over other classes.
        let disgust = went("disgust");
        assert_eq!(disgust.len(), 20);
        assert!(disgust.iter().all(|&c| c != "disgust") && disgust.iter().any(|&c| c != disgust[0]));
    }

    #[test]
    fn a_confusion_file_must_name_every_class_of_the_labels() {
        let dir = tempfile::tempdir().unwrap();
        let eval = dir.path().join("fer2013-eval.json");
        let seven = serde_json::json!({
            "classes": ClassList::fer2013().names(),
            "confusion": {"counts": vec![vec![1u64; 7]; 7]},
        });
        std::fs::write(&eval, seven.to_string()).unwrap();
        // A 7-class evaluation serves FER2013's labels, not FERPlus's (no contempt).
        assert!(Confusions::from_eval_json(&eval, &ClassList::fer2013()).is_ok());
        let err = Confusions::from_eval_json(&eval, &ClassList::ferplus())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fer2013-eval.json") && err.contains("no class 'contempt'"),
            "{err}"
        );
        std::fs::write(&eval, "accuracy 80%").unwrap();
        let err = Confusions::from_eval_json(&eval, &ClassList::ferplus())
            .unwrap_err()
            .to_string();
        assert!(err.contains("scn eval --json"), "{err}");
        std::fs::write(&eval, r#"{"classes": ["neutral"], "confusion": {"counts": [[1, 2]]}}"#).unwrap();
        let err = Confusions::from_eval_json(&eval, &ClassList::ferplus())
            .unwrap_err()
            .to_string();
        assert!(err.contains("square"), "{err}");
    }

    fn rafdb_list(n: usize) -> String {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!("train_{:05}.jpg {}\n", i + 1, i % 7 + 1));
        }
        text.push_str("test_0001.jpg 3\ntest_0002.jpg 4\n");
        text
    }

    #[test]
    fn flips_the_ratio_of_each_class_and_records_them() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("list_patition_label.txt");
        std::fs::write(&input, rafdb_list(700)).unwrap();
        let output = dir.path().join("noisy.txt");
        let summary = add_label_noise(&input, &output, &options(0.2, 7)).unwrap();
        assert_eq!(summary.format, LabelFile::RafdbList);
        assert_eq!(summary.labels, 700);
        assert_eq!(summary.flipped, 140);
        assert!(summary.per_class.iter().all(|c| c.labels == 100 && c.flipped == 20));
        assert_eq!(summary.per_class.iter().map(|c| c.flipped_in).sum::<usize>(), 140);

        let before: Vec<String> = std::fs::read_to_string(&input)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let after: Vec<String> = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(before.len(), after.len());
        let changed: Vec<usize> = (0..before.len()).filter(|&i| before[i] != after[i]).collect();
        assert_eq!(changed.len(), 140);
        // Test lines never change, and a flip always changes the class.
        assert_eq!(before[700..], after[700..]);
        assert_eq!(read_record(&summary.record).unwrap().len(), 140);
        let record = std::fs::read_to_string(&summary.record).unwrap();
        let rows: Vec<&str> = record.lines().skip(1).collect();
        assert_eq!(rows.len(), 140);
        for row in rows {
            let f: Vec<&str> = row.split(',').collect();
            let line: usize = f[0].parse().unwrap();
            assert_ne!(f[2], f[3]);
            assert_eq!(after[line - 1], format!("{} {}", f[1], f[3]));
            assert_eq!(before[line - 1], format!("{} {}", f[1], f[2]));
        }
    }

    #[test]
    fn a_rare_class_learns_how_few_of_its_noisy_labels_are_right() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("list_patition_label.txt");
        let mut text = String::new();
        for i in 0..620 {
            let class = if i < 600 { 1 } else { 2 };
            text.push_str(&format!("train_{:05}.jpg {class}\n", i + 1));
        }
        std::fs::write(&input, text).unwrap();
        let summary = add_label_noise(&input, &dir.path().join("noisy.txt"), &options(0.3, 5)).unwrap();
        let flips = read_record(&summary.record).unwrap();
        for c in &summary.per_class {
            let into = flips.iter().filter(|f| f.noisy_class == c.class).count();
            assert_eq!(c.flipped_in, into, "{}", c.class);
            assert_eq!(c.noisy_labels(), c.labels - c.flipped + into);
        }
        let [frequent, rare] = [&summary.per_class[0], &summary.per_class[1]];
        assert_eq!((frequent.flipped, rare.flipped), (180, 6));
        // 14 kept against about 30 of the frequent class's 180 flips (one in six classes).
        assert!(rare.flipped_in > 14, "{rare:?}");
        assert!(
            rare.right_share() < 0.5 && frequent.right_share() > 0.95,
            "{:?}",
            summary.per_class
        );
        // A class with no labels at all has nothing wrong.
        let empty = summary.per_class.iter().find(|c| c.noisy_labels() == 0);
        assert!(empty.is_none_or(|c| c.right_share() == 1.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_flips() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("labels.txt");
        std::fs::write(&input, rafdb_list(140)).unwrap();
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        let c = dir.path().join("c.txt");
        add_label_noise(&input, &a, &options(0.3, 1)).unwrap();
        add_label_noise(&input, &b, &options(0.3, 1)).unwrap();
        add_label_noise(&input, &c, &options(0.3, 2)).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    }

    #[test]
    fn ferplus_flips_swap_votes_so_the_majority_moves() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("label.csv");
        let mut text = String::new();
        for i in 0..50 {
            text.push_str(&format!("fer{i:07}.png,\"(0, 0, 48, 48)\",7,2,1,0,0,0,0,0,0,0\r\n"));
        }
        text.push_str("fer9999999.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,0,0,10\r\n"); // not a face: untouched
        std::fs::write(&input, &text).unwrap();
        let output = dir.path().join("out/label.csv");
        let summary = add_label_noise(&input, &output, &options(0.1, 3)).unwrap();
        assert_eq!((summary.labels, summary.flipped), (50, 5));
        let out = std::fs::read_to_string(&output).unwrap();
        let changed: Vec<&str> = out
            .lines()
            .zip(text.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a)
            .collect();
        assert_eq!(changed.len(), 5);
        assert!(out.ends_with("0,10\r\n"), "line endings are kept");
        for line in changed {
            let record = parse_csv_line(line.as_bytes()).unwrap();
            let row = ferplus::parse_record(&record).unwrap();
            let d = ferplus::process_votes(&row.votes, LabelMode::Majority).unwrap();
            assert_eq!(d[0], 0.0, "neutral lost its majority in {line}");
            assert!(line.contains("\"(0, 0, 48, 48)\""), "the box keeps its quotes: {line}");
        }
        assert!(dir.path().join("out/label.flips.csv").is_file());
    }

    #[test]
    fn fer2013_csv_flips_only_training_rows() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("fer2013.csv");
        let mut text = String::from("emotion,pixels,Usage\n");
        for i in 0..20 {
            text.push_str(&format!(
                "3,1 2 3,{}\n",
                if i < 10 { "Training" } else { "PrivateTest" }
            ));
        }
        std::fs::write(&input, &text).unwrap();
        let output = dir.path().join("noisy.csv");
        let summary = add_label_noise(&input, &output, &options(0.3, 9)).unwrap();
        assert_eq!((summary.labels, summary.flipped), (10, 3));
        let out = std::fs::read_to_string(&output).unwrap();
        assert!(out.lines().skip(11).all(|l| l.starts_with("3,")));
        assert_eq!(out.lines().skip(1).take(10).filter(|l| !l.starts_with("3,")).count(), 3);
    }

    #[test]
    fn refuses_bad_ratios_overwrites_and_malformed_input() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("labels.txt");
        std::fs::write(&input, rafdb_list(14)).unwrap();
        assert!(add_label_noise(&input, &dir.path().join("o.txt"), &options(1.5, 1)).is_err());
        let err = add_label_noise(&input, &input, &options(0.1, 1)).unwrap_err();
        assert!(err.to_string().contains("input file"), "{err}");
        let existing = dir.path().join("exists.txt");
        std::fs::write(&existing, "x").unwrap();
        let err = add_label_noise(&input, &existing, &options(0.1, 1)).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");

        std::fs::write(&input, "train_00001.jpg 3\ntrain_00002.jpg x\n").unwrap();
        let err = add_label_noise(&input, &dir.path().join("o.txt"), &options(0.5, 1)).unwrap_err();
        assert!(err.to_string().contains("labels.txt:2"), "{err}");
        assert!(!dir.path().join("o.txt").exists(), "nothing is written on error");
    }
}
