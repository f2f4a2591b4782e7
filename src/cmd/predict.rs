//! `scn predict`: the faces of photos, or face crops, classified with an exported model.
//!
//! A photo goes through the same pipeline as `scn run --images`: faces found (`--detector`:
//! RetinaFace or MTCNN), aligned to the model's face template, classified. An image no larger
//! than twice the model's input side (a face crop such as FERPlus's 48x48 images), or any image
//! with `--crop`, is classified whole, as the model was trained on crops.

use std::process::ExitCode;

use anyhow::{Context, Result};
use scn::classifier::{self, Classifier, Prediction};
use scn::output::{ClassProbabilities, FaceRecord, ImageRecord};
use scn::recognizer::{FaceResult, Recognizer};
use scn::track::TrackerConfig;
use serde_json::json;

use crate::cli::PredictArgs;
use crate::cmd::load;

/// One classified face of an image.
struct Face {
    /// `[x1, y1, x2, y2]` in image pixels (the whole image for a crop).
    bbox: [f32; 4],
    /// Detector score and landmarks (None for a crop classified whole).
    detection: Option<(f32, [[f32; 2]; 5])>,
    prediction: Prediction,
}

impl Face {
    fn detected(face: FaceResult) -> Face {
        let class = classifier::argmax(&face.probabilities);
        Face {
            bbox: face.bbox,
            detection: Some((face.score, face.landmarks)),
            prediction: Prediction {
                class,
                confidence: face.probability,
                alpha: face.alpha,
                certainty: face.certainty,
                probabilities: face.probabilities,
            },
        }
    }

    fn record<'a>(&'a self, classes: &'a [String]) -> FaceRecord<'a> {
        let p = &self.prediction;
        FaceRecord {
            id: None,
            bbox: self.bbox,
            score: self.detection.map(|d| d.0),
            landmarks: self.detection.map(|d| d.1),
            expression: classes.get(p.class).map(String::as_str),
            probability: p.confidence,
            probabilities: ClassProbabilities {
                classes,
                values: &p.probabilities,
            },
            alpha: p.alpha,
            certainty: p.certainty,
        }
    }
}

/// Whether an image of `width` x `height` is classified whole: `--crop`, or no side larger
/// than twice the model's input side.
pub fn is_crop(width: u32, height: u32, input_side: u32, forced: bool) -> bool {
    forced || width.max(height) <= 2 * input_side
}

fn table_row(image: &str, width: usize, face: &str, classes: &[String], p: &Prediction, top: usize) -> String {
    let mut order: Vec<usize> = (0..p.probabilities.len()).collect();
    order.sort_by(|&a, &b| p.probabilities[b].total_cmp(&p.probabilities[a]));
    let others: Vec<String> = order
        .iter()
        .skip(1)
        .take(top.saturating_sub(1))
        .map(|&i| format!("{} {:.1}%", classes[i], 100.0 * p.probabilities[i]))
        .collect();
    let fmt_opt = |v: Option<f32>, pct: bool| match v {
        Some(v) if pct => format!("{:>6.0}%", 100.0 * v),
        Some(v) => format!("{v:>6.3}"),
        None if pct => format!("{:>7}", "-"),
        None => format!("{:>6}", "-"),
    };
    format!(
        "{image:<width$} {face:<16} {:<10} {:>6.1}% {} {}  {}",
        classes[p.class],
        100.0 * p.confidence,
        fmt_opt(p.alpha, false),
        fmt_opt(p.certainty, true),
        others.join(", ")
    )
}

/// The faces of one decoded image.
fn faces_of(
    image: image::DynamicImage,
    crop: bool,
    recognizer: &mut Recognizer,
    tracking: &TrackerConfig,
) -> Result<Vec<Face>> {
    let (w, h) = (image.width(), image.height());
    if crop {
        let classifier: &Classifier = recognizer.classifier();
        let prediction = classifier.classify(std::slice::from_ref(&image))?.into_iter().next();
        return Ok(prediction
            .map(|prediction| Face {
                bbox: [0.0, 0.0, w as f32, h as f32],
                detection: None,
                prediction,
            })
            .into_iter()
            .collect());
    }
    // Unrelated photos: no tracking or smoothing from one to the next.
    recognizer.reset_tracks(tracking.clone());
    let result = recognizer.process(&image.into_rgb8())?;
    Ok(result.faces.into_iter().map(Face::detected).collect())
}

/// Runs `scn predict`.
pub fn run(args: PredictArgs) -> Result<ExitCode> {
    let classifier = load::classifier(&args.model)?;
    let files = scn::source::images::expand(&args.images)?;
    let side = classifier.metadata().input.size;
    let classes = classifier.classes().to_vec();
    let detector = load::detector(args.detector, args.min_face, args.face_threshold)?;
    let tracking = TrackerConfig {
        window: 1,
        ..TrackerConfig::default()
    };
    let mut recognizer = Recognizer::new(detector, classifier, tracking.clone(), args.max_faces);
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    // The image column as wide as the longest name, so that the columns line up.
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max("image".len());
    if !args.json {
        println!(
            "{:<width$} {:<16} {:<10} {:>7} {:>6} {:>7}  next",
            "image", "face", "expression", "prob.", "alpha", "certain"
        );
    }
    let mut failed = 0;
    for (path, name) in files.iter().zip(&names) {
        let image = match image::open(path) {
            Ok(image) => image,
            Err(e) => {
                failed += 1;
                if args.json {
                    println!(
                        "{}",
                        json!({"image": name, "error": format!("cannot decode the image: {e}")})
                    );
                } else {
                    log::error!("{name}: cannot decode the image: {e}");
                }
                continue;
            }
        };
        let (w, h) = (image.width(), image.height());
        let crop = is_crop(w, h, side, args.crop);
        let faces =
            faces_of(image, crop, &mut recognizer, &tracking).with_context(|| format!("cannot classify {name}"))?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&ImageRecord {
                    image: name,
                    width: w,
                    height: h,
                    crop,
                    faces: faces.iter().map(|f| f.record(&classes)).collect(),
                })?
            );
            continue;
        }
        if faces.is_empty() {
            println!("{name:<width$} {:<16} no face found", "-");
        }
        for face in &faces {
            let [x1, y1, x2, y2] = face.bbox;
            let label = if face.detection.is_none() {
                "whole image".to_string()
            } else {
                format!("{:.0},{:.0} {:.0}x{:.0}", x1, y1, x2 - x1, y2 - y1)
            };
            println!(
                "{}",
                table_row(name, width, &label, &classes, &face.prediction, args.top)
            );
        }
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_are_images_up_to_twice_the_input_side_or_forced() {
        assert!(is_crop(48, 48, 48, false));
        assert!(is_crop(96, 80, 48, false));
        assert!(!is_crop(97, 60, 48, false));
        assert!(!is_crop(640, 480, 48, false));
        assert!(is_crop(640, 480, 48, true));
        assert!(
            is_crop(100, 100, 224, false),
            "RAF-DB's aligned crops for a 224 px model"
        );
    }

    /// A two-class prediction (neutral 25%, happiness 75%) and its class names.
    fn happiness() -> (Prediction, Vec<String>) {
        let prediction = Prediction {
            probabilities: vec![0.25, 0.75],
            class: 1,
            confidence: 0.75,
            alpha: Some(0.5),
            certainty: None,
        };
        (prediction, vec!["neutral".to_string(), "happiness".to_string()])
    }

    #[test]
    fn rows_line_up_whatever_the_length_of_the_image_names() {
        let (p, classes) = happiness();
        let long = "../shared/fixtures/images/grace_hopper_512x512.jpg";
        let rows = [
            table_row("a.jpg", long.len(), "1,2 3x4", &classes, &p, 2),
            table_row(long, long.len(), "10,20 30x40", &classes, &p, 2),
        ];
        let column = |row: &str| row.find("happiness");
        assert_eq!(column(&rows[0]), column(&rows[1]), "{rows:?}");
        assert_eq!(column(&rows[1]), Some(long.len() + 1 + 16 + 1), "{rows:?}");
    }

    #[test]
    fn a_crop_prints_without_detection_fields() {
        let (prediction, classes) = happiness();
        let face = Face {
            bbox: [0.0, 0.0, 48.0, 48.0],
            detection: None,
            prediction,
        };
        let v = serde_json::to_value(face.record(&classes)).unwrap_or_default();
        assert_eq!(v["expression"], "happiness");
        assert!(v["landmarks"].is_null() && v["score"].is_null(), "{v}");
        assert_eq!(v["probabilities"]["neutral"], 0.25);
    }
}
