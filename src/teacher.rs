//! An exported model as the teacher of `scn train --distill`: it classifies every training image
//! once in tract (as `scn eval` does: same decoding and preprocessing, batches side by side on
//! all cores) and hands the trainer its class probabilities, tempered and in the dataset's class
//! order.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use scn_train::data::{ClassList, Sample};
use scn_train::distill::Teacher;
use scn_train::metrics::tempered_softmax;
use sha2::{Digest, Sha256};

use crate::classifier::{Classifier, ModelOverrides, OutputKind};
use crate::error::IoContext;
use crate::evaluate::{class_mapping, preprocess_batch};

/// Faces per inference call.
const BATCH: usize = 32;

/// A model file that `scn train` distills from.
#[derive(Debug)]
pub struct OnnxTeacher {
    classifier: Classifier,
    path: PathBuf,
    sha256: String,
}

impl OnnxTeacher {
    /// Loads an exported model (any model `scn eval` reads: its metadata gives the classes and
    /// the preprocessing).
    pub fn load(path: &Path) -> crate::Result<OnnxTeacher> {
        let classifier = Classifier::load(path, &ModelOverrides::default())?;
        let bytes = std::fs::read(path).at(path)?;
        let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        Ok(OnnxTeacher {
            classifier,
            path: path.to_path_buf(),
            sha256,
        })
    }

    /// The model's file name.
    fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    fn error(&self, reason: impl std::fmt::Display) -> scn_train::Error {
        scn_train::Error::InvalidArgument(format!("teacher {}: {reason}", self.path.display()))
    }
}

impl Teacher for OnnxTeacher {
    fn describe(&self) -> String {
        format!("{} (SHA-256 {})", self.name(), self.sha256)
    }

    fn probabilities(&self, samples: &[Sample], classes: &ClassList, temperature: f64) -> scn_train::Result<Vec<f32>> {
        let mapping = class_mapping(classes, self.classifier.classes()).map_err(|e| self.error(e))?;
        let k = classes.len();
        let logits = self.classifier.output_kind() == OutputKind::Logits;
        self.classifier
            .prepare_batch(BATCH.min(samples.len().max(1)))
            .map_err(|e| self.error(e))?;
        let bar = ProgressBar::new(samples.len() as u64).with_style(
            ProgressStyle::with_template(&format!(
                "{} {{bar:30}} {{pos}}/{{len}} images, {{eta}} left",
                self.name()
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let started = std::time::Instant::now();
        let chunks: Vec<scn_train::Result<(Vec<f32>, usize)>> = samples
            .par_chunks(BATCH)
            .map(|chunk| {
                let (input, unread) = preprocess_batch(&self.classifier, chunk);
                let raw = self.classifier.run(&input).map_err(|e| self.error(e))?;
                let mut rows = raw.scores.chunks_exact(raw.classes);
                let mut out = Vec::with_capacity(chunk.len() * k);
                let mut skipped = 0;
                for (sample, unread) in chunk.iter().zip(unread) {
                    // An unread image has no row in the output: the next row is the next image's.
                    let row = if unread.is_none() { rows.next() } else { None };
                    match (unread, row) {
                        (None, Some(row)) => {
                            // The dataset's classes, picked from the model's; probabilities are
                            // tempered through their logarithm (p^(1/T), renormalised).
                            let scores: Vec<f32> = mapping
                                .iter()
                                .map(|&m| if logits { row[m] } else { row[m].max(1e-12).ln() })
                                .collect();
                            out.extend(tempered_softmax(&scores, temperature));
                        }
                        (None, None) => {
                            return Err(self.error(format!(
                                "the model gave {} rows of scores for a batch of {} images",
                                raw.faces,
                                chunk.len()
                            )));
                        }
                        (Some(reason), _) => {
                            log::warn!("the teacher skips {}: {reason}", sample.image.location());
                            skipped += 1;
                            out.extend(std::iter::repeat_n(f32::NAN, k));
                        }
                    }
                }
                bar.inc(chunk.len() as u64);
                Ok((out, skipped))
            })
            .collect();
        bar.finish_and_clear();
        let mut values = Vec::with_capacity(samples.len() * k);
        let mut unread = 0;
        for chunk in chunks {
            let (rows, skipped) = chunk?;
            values.extend(rows);
            unread += skipped;
        }
        log::info!(
            "the teacher {} classified {} training images in {:.0} s{}",
            self.name(),
            samples.len() - unread,
            started.elapsed().as_secs_f64(),
            if unread > 0 {
                format!(" ({unread} it could not read train on their labels alone)")
            } else {
                String::new()
            }
        );
        Ok(values)
    }
}
