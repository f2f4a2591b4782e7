//! `scn eval`: the accuracy of a classifier on a dataset split, with the same decoding and
//! preprocessing as training, batches run concurrently on all cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use scn_train::data::{ClassList, Expression, Sample};
use scn_train::metrics::{self, Confusion};
use serde::Serialize;

use crate::classifier::Classifier;
use crate::error::{Error, Result};

/// Index of each dataset class in the model's class list, matched by expression name
/// ("happy" and "happiness" are the same class). Every dataset class must be one of the model's.
pub fn class_mapping(dataset: &ClassList, model_classes: &[String]) -> Result<Vec<usize>> {
    let model: Vec<Option<Expression>> = model_classes.iter().map(|c| Expression::parse(c)).collect();
    let mut mapping = Vec::with_capacity(dataset.len());
    let mut missing = Vec::new();
    for expression in dataset.as_slice() {
        match model.iter().position(|m| *m == Some(*expression)) {
            Some(i) => mapping.push(i),
            None => missing.push(expression.name()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the model's classes ({}) lack the dataset's {}: evaluate on a dataset with the model's classes",
            model_classes.join(", "),
            missing.join(", ")
        )));
    }
    Ok(mapping)
}

/// The result of an evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The model's classes (rows and columns of the confusion matrix).
    pub classes: Vec<String>,
    /// Images classified.
    pub images: usize,
    /// Images that could not be decoded: location and reason.
    pub skipped: Vec<(String, String)>,
    /// Fraction correct.
    pub accuracy: f64,
    /// Mean per-class recall over the classes present.
    pub mean_class_accuracy: f64,
    /// Recall per model class (None where the split has no image of the class).
    pub per_class: Vec<Option<f64>>,
    /// `counts[true][predicted]` over the model's classes.
    pub confusion: Confusion,
    /// Percentiles 0..=100 of alpha (empty for models without alpha).
    pub alpha_percentiles: Vec<f32>,
    /// Wall time, decoding included.
    pub seconds: f64,
    /// Images per second, decoding included.
    pub images_per_second: f64,
    /// Faces per inference call.
    pub batch_size: usize,
    /// Whether each face was averaged with its mirror image (`--flip`).
    pub flip: bool,
    /// The logit-adjustment strength of `--balance` (0: the model as trained).
    pub balance: f32,
}

/// Decodes and preprocesses a batch of samples for `classifier`: the faces it could read, one
/// after another, and for each sample why it could not be read (None: it is in the batch).
pub fn preprocess_batch(classifier: &Classifier, samples: &[Sample]) -> (Vec<f32>, Vec<Option<String>>) {
    let n = classifier.input_len();
    let mut input = Vec::with_capacity(samples.len() * n);
    let unread = samples
        .iter()
        .map(|sample| match sample.image.load() {
            Ok(image) => {
                let start = input.len();
                input.resize(start + n, 0.0);
                classifier.preprocess_into(&image, &mut input[start..]);
                None
            }
            Err(reason) => Some(reason),
        })
        .collect();
    (input, unread)
}

/// Classifies every sample (labels mapped into the model's classes with `mapping`, see
/// [`class_mapping`]) in batches of `batch_size`, several batches at once on rayon's threads.
/// `progress` is called with the number of samples done so far.
pub fn evaluate(
    classifier: &Classifier,
    samples: &[Sample],
    mapping: &[usize],
    batch_size: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<EvalReport> {
    let start = Instant::now();
    let batch_size = batch_size.max(1);
    classifier.prepare_batch(batch_size.min(samples.len()))?;
    let done = AtomicUsize::new(0);
    type Chunk = (Vec<(usize, usize, Option<f32>)>, Vec<(String, String)>);
    let chunks: Vec<Result<Chunk>> = samples
        .par_chunks(batch_size)
        .map(|chunk| {
            let (input, unread) = preprocess_batch(classifier, chunk);
            let mut truths = Vec::with_capacity(chunk.len());
            let mut skipped = Vec::new();
            for (sample, unread) in chunk.iter().zip(unread) {
                match unread {
                    None => truths.push(mapping.get(sample.label.class).copied().unwrap_or(usize::MAX)),
                    Some(reason) => skipped.push((sample.image.location(), reason)),
                }
            }
            let predictions = classifier.classify_preprocessed(&input)?;
            progress(done.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len());
            Ok((
                truths
                    .into_iter()
                    .zip(predictions)
                    .map(|(t, p)| (t, p.class, p.alpha))
                    .collect(),
                skipped,
            ))
        })
        .collect();
    let k = classifier.classes().len();
    let mut confusion = Confusion::new(k);
    let mut alphas = Vec::new();
    let mut skipped = Vec::new();
    for chunk in chunks {
        let (rows, skips) = chunk?;
        for (truth, predicted, alpha) in rows {
            confusion.add(truth, predicted);
            alphas.extend(alpha);
        }
        skipped.extend(skips);
    }
    let seconds = start.elapsed().as_secs_f64();
    let images = confusion.total() as usize;
    let alpha_percentiles = if alphas.is_empty() {
        Vec::new()
    } else {
        metrics::percentiles(&alphas, (0..=100).map(f64::from))
    };
    Ok(EvalReport {
        classes: classifier.classes().to_vec(),
        images,
        skipped,
        accuracy: confusion.accuracy(),
        mean_class_accuracy: confusion.mean_class_accuracy(),
        per_class: confusion.per_class(),
        confusion,
        alpha_percentiles,
        seconds,
        images_per_second: if seconds > 0.0 { images as f64 / seconds } else { 0.0 },
        batch_size,
        flip: classifier.flip_averaging(),
        balance: classifier.balance(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_matches_names_and_aliases() {
        let model: Vec<String> = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mapping = class_mapping(&ClassList::fer2013(), &model).unwrap();
        assert_eq!(mapping, vec![0, 1, 2, 3, 4, 5, 6]);
        let m = class_mapping(&ClassList::rafdb(), &model).unwrap();
        // RAF-DB: surprise, fear, disgust, happiness, sadness, anger, neutral
        assert_eq!(m, vec![5, 2, 1, 3, 4, 0, 6]);
        let err = class_mapping(&ClassList::ferplus(), &model).unwrap_err();
        assert!(err.to_string().contains("contempt"), "{err}");
    }
}
