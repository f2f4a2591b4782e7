//! Measuring a dataset's face template: where the five landmarks sit in its images. The detector
//! (MTCNN or RetinaFace) runs on a spread of the images (small crops such as FER2013's 48x48 are enlarged first, so that
//! the detector sees faces at a size it handles) and the template is the per-landmark median.
//! `scn export` stores the template in the model, and `scn run` aligns live faces onto it.

use image::RgbImage;
use image::imageops::FilterType;
use rayon::prelude::*;
use scn_train::data::Sample;
use scn_train::metadata::FaceTemplate;

use crate::error::{Error, Result};
use crate::face::Detector;

/// A measured template and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateMeasurement {
    /// The median landmarks, in pixels of the dataset's images.
    pub template: FaceTemplate,
    /// Images the detector found a face in.
    pub measured: usize,
    /// Images tried.
    pub tried: usize,
    /// Per landmark, the interquartile range of x and y (how much faces vary around it).
    pub spread: [[f32; 2]; 5],
}

fn median_and_iqr(values: &mut [f32]) -> (f32, f32) {
    values.sort_by(f32::total_cmp);
    let at = |q: f32| values[((values.len() - 1) as f32 * q).round() as usize];
    (at(0.5), at(0.75) - at(0.25))
}

/// The landmarks of the largest face in a square image, in its own pixels.
fn landmarks(detector: &Detector, image: &RgbImage, factor: u32) -> Option<[[f32; 2]; 5]> {
    let big = if factor > 1 {
        image::imageops::resize(
            image,
            image.width() * factor,
            image.height() * factor,
            FilterType::Triangle,
        )
    } else {
        image.clone()
    };
    let faces = detector.detect(&big).ok()?;
    let face = faces
        .iter()
        .max_by(|a, b| (a.bbox.width() * a.bbox.height()).total_cmp(&(b.bbox.width() * b.bbox.height())))?;
    // Pixel centres: enlarged coordinate u is (u + 0.5) / factor - 0.5 in the original.
    let f = factor as f32;
    Some(face.landmarks.map(|[x, y]| [(x + 0.5) / f - 0.5, (y + 0.5) / f - 0.5]))
}

/// Measures the template of `samples` (at most `limit`, spread evenly over them). The images
/// must be square and of one size (the first decoded image's; others are skipped).
pub fn measure(detector: &Detector, samples: &[Sample], limit: usize, source: &str) -> Result<TemplateMeasurement> {
    if samples.is_empty() || limit == 0 {
        return Err(Error::InvalidArgument(
            "no images to measure the face template on".into(),
        ));
    }
    let n = samples.len().min(limit);
    let picked: Vec<&Sample> = (0..n).map(|i| &samples[i * samples.len() / n]).collect();
    let first = picked
        .iter()
        .find_map(|s| s.image.load().ok())
        .ok_or_else(|| Error::InvalidArgument("none of the images could be decoded".into()))?;
    let size = first.width();
    if first.height() != size {
        return Err(Error::InvalidArgument(format!(
            "a face template needs square images; the first is {}x{}",
            first.width(),
            first.height()
        )));
    }
    let factor = 160u32.div_ceil(size).max(1);
    let found: Vec<[[f32; 2]; 5]> = picked
        .par_iter()
        .filter_map(|s| {
            let image = s.image.load().ok()?.into_rgb8();
            if image.dimensions() != (size, size) {
                return None;
            }
            landmarks(detector, &image, factor)
        })
        .collect();
    if found.len() < 10 {
        return Err(Error::InvalidArgument(format!(
            "faces were found in only {} of {n} images: too few to measure a template",
            found.len()
        )));
    }
    let mut template = [[0.0f32; 2]; 5];
    let mut spread = [[0.0f32; 2]; 5];
    for k in 0..5 {
        for axis in 0..2 {
            let mut values: Vec<f32> = found.iter().map(|l| l[k][axis]).collect();
            let (median, iqr) = median_and_iqr(&mut values);
            template[k][axis] = (median * 10.0).round() / 10.0;
            spread[k][axis] = iqr;
        }
    }
    Ok(TemplateMeasurement {
        template: FaceTemplate {
            size,
            landmarks: template,
            source: format!(
                "{source}: median {} landmarks of {} of {n} images (enlarged {factor}x for detection)",
                detector.kind().label(),
                found.len()
            ),
        },
        measured: found.len(),
        tried: n,
        spread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_quartiles() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(median_and_iqr(&mut v), (3.0, 2.0));
    }
}
