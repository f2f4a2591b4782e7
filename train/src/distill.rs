//! Knowledge distillation from a trained teacher: each training image's target mixes its label
//! with the teacher's class probabilities for that image,
//! `(1 - weight) * label + weight * softmax(teacher scores / temperature)`.
//!
//! The teacher is any classifier over the dataset's classes (an exported scn model, run by the
//! binary in tract); it sees each training image once, unaugmented, before the first epoch,
//! and its probabilities are kept in the run folder ([`TEACHER_FILE`]) so that a resumed run
//! trains towards the same targets without the teacher. Offline soft targets ("soft-label"
//! distillation) cost a forward pass of the teacher per image once, not per epoch, which is
//! what makes a 150 px teacher affordable on a CPU.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{ClassList, Sample};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;

/// The file in a run folder that holds the teacher's probabilities.
pub const TEACHER_FILE: &str = "teacher.bin";

/// The first bytes of [`TEACHER_FILE`].
const MAGIC: &[u8; 8] = b"SCNTEACH";

/// How a run learns from a teacher (`distill` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillConfig {
    /// Share of the teacher's probabilities in each target, in (0, 1].
    pub weight: f64,
    /// The teacher's scores are divided by this before the softmax (above 1: softer targets).
    pub temperature: f64,
    /// The teacher, as it was given (file name and SHA-256), for the record.
    pub teacher: String,
}

impl DistillConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.weight > 0.0 && self.weight <= 1.0) {
            return Err(format!("distill weight must be in (0, 1], got {}", self.weight));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(format!(
                "distill temperature must be positive, got {}",
                self.temperature
            ));
        }
        Ok(())
    }
}

/// A trained classifier whose predictions a run learns from.
pub trait Teacher: std::fmt::Debug + Send + Sync {
    /// The teacher as the run's config records it (file and checksum).
    fn describe(&self) -> String;

    /// Class probabilities of every sample, `samples.len() * classes.len()` values in the
    /// dataset's class order, each row `softmax(scores / temperature)` over those classes. A
    /// sample the teacher could not read gets a row of NaN (it then trains on its label alone).
    fn probabilities(&self, samples: &[Sample], classes: &ClassList, temperature: f64) -> Result<Vec<f32>>;
}

/// Several teachers as one: each image's probabilities are the mean of theirs (each member
/// tempered first), the ensemble's soft targets. Distilling an ensemble into one model is how
/// a student gets past any single teacher (Hinton et al., 2015); an image that any member could
/// not read gets no teacher row.
#[derive(Debug)]
pub struct Ensemble {
    members: Vec<Box<dyn Teacher>>,
}

impl Ensemble {
    /// The ensemble of `members` (at least one).
    pub fn new(members: Vec<Box<dyn Teacher>>) -> Result<Ensemble> {
        if members.is_empty() {
            return Err(Error::InvalidArgument("an ensemble needs at least one teacher".into()));
        }
        Ok(Ensemble { members })
    }
}

impl Teacher for Ensemble {
    fn describe(&self) -> String {
        let names: Vec<String> = self.members.iter().map(|m| m.describe()).collect();
        names.join(" + ")
    }

    fn probabilities(&self, samples: &[Sample], classes: &ClassList, temperature: f64) -> Result<Vec<f32>> {
        let mut sum = vec![0.0f32; samples.len() * classes.len()];
        for member in &self.members {
            let values = member.probabilities(samples, classes, temperature)?;
            if values.len() != sum.len() {
                return Err(Error::InvalidArgument(format!(
                    "teacher {} gave {} probabilities for {} images of {} classes",
                    member.describe(),
                    values.len(),
                    samples.len(),
                    classes.len()
                )));
            }
            // NaN (an unread image) stays NaN in the sum.
            sum.iter_mut().zip(values).for_each(|(s, v)| *s += v);
        }
        let n = self.members.len() as f32;
        sum.iter_mut().for_each(|s| *s /= n);
        Ok(sum)
    }
}

/// The teacher's probabilities for the training images, row `i` for sample `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherTargets {
    classes: usize,
    values: Vec<f32>,
}

impl TeacherTargets {
    /// Wraps `values` (`samples * classes`, as [`Teacher::probabilities`] returns them).
    pub fn new(values: Vec<f32>, samples: usize, classes: usize) -> Result<TeacherTargets> {
        if classes == 0 || values.len() != samples * classes {
            return Err(Error::InvalidArgument(format!(
                "the teacher gave {} probabilities for {samples} images of {classes} classes",
                values.len()
            )));
        }
        Ok(TeacherTargets { classes, values })
    }

    /// The teacher's probabilities for sample `i` (None where it could not read the image).
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        let row = self.values.get(i * self.classes..(i + 1) * self.classes)?;
        row.iter().all(|v| v.is_finite()).then_some(row)
    }

    /// Samples covered.
    pub fn len(&self) -> usize {
        self.values.len() / self.classes
    }

    /// Whether no sample is covered.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Writes the targets to `path` (atomically: an interrupted write leaves the old file).
    pub fn save(&self, path: &Path) -> Result<()> {
        fsutil::write_atomically(path, |w| {
            w.write_all(MAGIC).at(path)?;
            w.write_all(&(self.len() as u64).to_le_bytes()).at(path)?;
            w.write_all(&(self.classes as u32).to_le_bytes()).at(path)?;
            for v in &self.values {
                w.write_all(&v.to_le_bytes()).at(path)?;
            }
            Ok(())
        })
    }

    /// Reads targets written by [`TeacherTargets::save`], checking that they cover `samples`
    /// images of `classes` classes.
    pub fn load(path: &Path, samples: usize, classes: usize) -> Result<TeacherTargets> {
        let bytes = std::fs::read(path).at(path)?;
        let malformed = |reason: String| Error::Malformed {
            path: path.to_path_buf(),
            line: None,
            reason,
        };
        let header = MAGIC.len() + 8 + 4;
        if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
            return Err(malformed("not a teacher file of scn train".into()));
        }
        let mut n = [0u8; 8];
        n.copy_from_slice(&bytes[8..16]);
        let mut c = [0u8; 4];
        c.copy_from_slice(&bytes[16..20]);
        let (n, c) = (u64::from_le_bytes(n) as usize, u32::from_le_bytes(c) as usize);
        if (n, c) != (samples, classes) {
            return Err(malformed(format!(
                "holds the teacher's probabilities for {n} images of {c} classes, the run has {samples} of {classes}"
            )));
        }
        let body = &bytes[header..];
        if body.len() != n * c * 4 {
            return Err(malformed(format!(
                "is cut short: {} bytes of probabilities, {} expected",
                body.len(),
                n * c * 4
            )));
        }
        let values = body
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        TeacherTargets::new(values, n, c)
    }

    /// Mixes `target` (a row of `classes` values summing to 1) with the teacher's row for
    /// sample `i`: `(1 - weight) * target + weight * teacher`. Unchanged where the teacher could
    /// not read the image.
    pub fn mix_into(&self, i: usize, weight: f32, target: &mut [f32]) {
        if let Some(row) = self.row(i) {
            for (t, p) in target.iter_mut().zip(row) {
                *t = (1.0 - weight) * *t + weight * p;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tempered_softmax;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} != {b:?}");
        }
    }

    #[test]
    fn targets_mix_the_label_with_the_teacher_and_skip_unread_images() {
        let targets = TeacherTargets::new(vec![0.5, 0.5, 0.0, f32::NAN, f32::NAN, f32::NAN], 2, 3).unwrap();
        let mut first = [0.0, 0.0, 1.0];
        targets.mix_into(0, 0.5, &mut first);
        close(&first, &[0.25, 0.25, 0.5]);
        let mut second = [0.0, 1.0, 0.0];
        targets.mix_into(1, 0.5, &mut second);
        close(&second, &[0.0, 1.0, 0.0]);
        assert!(targets.row(1).is_none());
        assert!(TeacherTargets::new(vec![0.5; 5], 2, 3).is_err());
    }

    #[test]
    fn the_teacher_file_round_trips_and_refuses_another_dataset_or_a_cut_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TEACHER_FILE);
        let targets = TeacherTargets::new(vec![0.1, 0.9, f32::NAN, f32::NAN, 1.0, 0.0], 3, 2).unwrap();
        targets.save(&path).unwrap();
        let back = TeacherTargets::load(&path, 3, 2).unwrap();
        assert_eq!(back.row(0), Some(&[0.1f32, 0.9][..]));
        assert!(back.row(1).is_none());
        assert_eq!(back.row(2), Some(&[1.0f32, 0.0][..]));

        let other = TeacherTargets::load(&path, 4, 2).unwrap_err().to_string();
        assert!(
            other.contains("teacher.bin") && other.contains("3 images of 2 classes"),
            "{other}"
        );
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let cut = TeacherTargets::load(&path, 3, 2).unwrap_err().to_string();
        assert!(cut.contains("cut short"), "{cut}");
        std::fs::write(&path, b"not a teacher").unwrap();
        let wrong = TeacherTargets::load(&path, 3, 2).unwrap_err().to_string();
        assert!(wrong.contains("not a teacher file"), "{wrong}");
    }

    /// A teacher that gives every image the same scores.
    #[derive(Debug)]
    struct Fixed(&'static str, Vec<f32>);

    impl Teacher for Fixed {
        fn describe(&self) -> String {
            self.0.into()
        }
        fn probabilities(&self, samples: &[Sample], _: &ClassList, temperature: f64) -> Result<Vec<f32>> {
            let row = tempered_softmax(&self.1, temperature);
            Ok(samples.iter().flat_map(|_| row.iter().copied()).collect())
        }
    }

    /// A teacher that gives these values, whatever the images.
    #[derive(Debug)]
    struct Given(&'static str, Vec<f32>);

    impl Teacher for Given {
        fn describe(&self) -> String {
            self.0.into()
        }
        fn probabilities(&self, _: &[Sample], _: &ClassList, _: f64) -> Result<Vec<f32>> {
            Ok(self.1.clone())
        }
    }

    #[test]
    fn an_ensemble_averages_its_members_tempered_probabilities() {
        use crate::data::{ImageRef, Label};
        let classes = ClassList::ferplus();
        let samples: Vec<Sample> = (0..2)
            .map(|index| Sample {
                image: ImageRef::File(format!("{index}.png").into()),
                label: Label::hard(0),
                index,
            })
            .collect();
        let k = classes.len();
        let (mut a, mut b) = (vec![0.0; k], vec![0.0; k]);
        a[0] = 4.0;
        b[1] = 2.0;
        for temperature in [1.0, 3.0] {
            let ensemble = Ensemble::new(vec![
                Box::new(Fixed("a.onnx", a.clone())),
                Box::new(Fixed("b.onnx", b.clone())),
            ])
            .unwrap();
            let mean: Vec<f32> = tempered_softmax(&a, temperature)
                .iter()
                .zip(tempered_softmax(&b, temperature))
                .map(|(x, y)| (x + y) / 2.0)
                .collect();
            let got = ensemble.probabilities(&samples, &classes, temperature).unwrap();
            close(&got[..k], &mean);
            close(&got[k..], &mean);
            assert_eq!(ensemble.describe(), "a.onnx + b.onnx");
        }
        assert!(Ensemble::new(Vec::new()).is_err());

        // An image one member could not read has no row; a member with the wrong count is named.
        let mut unread = tempered_softmax(&b, 1.0);
        unread.extend(std::iter::repeat_n(f32::NAN, k));
        let ensemble = Ensemble::new(vec![
            Box::new(Fixed("a.onnx", a.clone())),
            Box::new(Given("c.onnx", unread)),
        ])
        .unwrap();
        let rows = TeacherTargets::new(ensemble.probabilities(&samples, &classes, 1.0).unwrap(), 2, k).unwrap();
        assert!(rows.row(0).is_some() && rows.row(1).is_none());
        let short = Ensemble::new(vec![
            Box::new(Fixed("a.onnx", a)),
            Box::new(Given("d.onnx", vec![0.5; k])),
        ])
        .unwrap();
        let error = short.probabilities(&samples, &classes, 1.0).unwrap_err().to_string();
        assert!(error.contains("d.onnx") && error.contains("2 images"), "{error}");
    }

    #[test]
    fn temperature_softens_the_teachers_probabilities() {
        let sharp = tempered_softmax(&[2.0, 0.0], 1.0);
        let soft = tempered_softmax(&[2.0, 0.0], 4.0);
        close(
            &sharp,
            &[1.0 / (1.0 + (-2.0f32).exp()), 1.0 - 1.0 / (1.0 + (-2.0f32).exp())],
        );
        assert!(soft[0] < sharp[0] && soft[0] > 0.5);
        let config = DistillConfig {
            weight: 0.0,
            temperature: 1.0,
            teacher: "t.onnx".into(),
        };
        assert!(config.validate().is_err());
        assert!(
            DistillConfig {
                weight: 0.5,
                temperature: 0.0,
                ..config
            }
            .validate()
            .is_err()
        );
    }
}
