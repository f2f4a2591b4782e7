//! dlib's face-recognition ResNet, loaded from face-api.js's weights (models/face-api), is the
//! network it claims to be: as dlib's face descriptor, two portraits of the same person come
//! out closer than dlib's 0.6 threshold and portraits of different people farther. Shapes that
//! fit are not enough: a transposed filter or a wrong normalisation breaks this.
#![cfg(feature = "train")]

use std::path::{Path, PathBuf};

use image::RgbImage;
use scn::face::{DetectorConfig, Mtcnn, align};
use scn::train::burn::prelude::*;
use scn::train::face_api::WeightMap;
use scn::train::metadata::FaceTemplate;
use scn::train::model::face_resnet::{FACE_MEAN, FACE_STD};
use scn::train::model::{FaceResNet, FaceResNetConfig};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn face_api_weights() -> WeightMap {
    WeightMap::read(&root().join("models/face-api/face_recognition_model-weights_manifest.json"))
        .expect("the committed face-api weights read")
}

fn network(map: &WeightMap) -> FaceResNet {
    let (net, unused) = map
        .load_into(FaceResNetConfig::new().init(&Device::flex()))
        .expect("every layer loads");
    assert!(
        unused.is_empty(),
        "file tensors with no place in the network: {unused:?}"
    );
    assert_eq!(map.tensors.len(), 117);
    net
}

/// The largest face of a photo, aligned to dlib's 150x150 chip and normalised as dlib does.
fn chip(detector: &Mtcnn, photo: &Path) -> Vec<f32> {
    let image = image::open(photo).unwrap().into_rgb8();
    let faces = detector.detect(&image).unwrap();
    let face = faces
        .iter()
        .max_by(|a, b| (a.bbox.width() * a.bbox.height()).total_cmp(&(b.bbox.width() * b.bbox.height())))
        .unwrap_or_else(|| panic!("no face in {}", photo.display()));
    let template = FaceTemplate::dlib_chip();
    let mut crop = RgbImage::new(1, 1);
    align::align_into(&image, &face.landmarks, &template, template.size, &mut crop).unwrap();
    let side = template.size as usize;
    let mut planes = vec![0.0f32; 3 * side * side];
    for (i, p) in crop.pixels().enumerate() {
        for c in 0..3 {
            planes[c * side * side + i] = (f32::from(p.0[c]) / 255.0 - FACE_MEAN[c]) / FACE_STD;
        }
    }
    planes
}

fn descriptors(map: &WeightMap, photos: &[PathBuf]) -> Vec<Vec<f32>> {
    let net = network(map);
    let detector = Mtcnn::embedded(DetectorConfig::default()).unwrap();
    let side = FaceTemplate::dlib_chip().size as usize;
    let batch: Vec<f32> = photos.iter().flat_map(|p| chip(&detector, p)).collect();
    let input = Tensor::<4>::from_data(TensorData::new(batch, [photos.len(), 3, side, side]), &Device::flex());
    let out = net
        .descriptor(input)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    out.chunks(128).map(<[f32]>::to_vec).collect()
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

fn photos() -> Vec<PathBuf> {
    let faces = root().join("assets/faces");
    ["obama.jpg", "obama2.jpg", "biden.jpg", "grace_hopper_512x512.jpg"]
        .iter()
        .map(|n| faces.join(n))
        .collect()
}

#[test]
fn same_person_is_closer_than_dlibs_threshold_and_different_people_farther() {
    let d = descriptors(&face_api_weights(), &photos());
    let same = distance(&d[0], &d[1]);
    let others = [
        distance(&d[0], &d[2]),
        distance(&d[1], &d[2]),
        distance(&d[0], &d[3]),
        distance(&d[2], &d[3]),
    ];
    println!("obama-obama2 {same:.3}; obama-biden, obama2-biden, obama-hopper, biden-hopper {others:.3?}");
    assert!(same < 0.6, "the same person: {same}");
    for (i, o) in others.iter().enumerate() {
        assert!(*o > 0.6, "different people ({i}): {o}");
    }
    // dlib's descriptors are close to unit length (it trains them on a metric loss).
    let norm = d[0].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((0.3..3.0).contains(&norm), "{norm}");
}

/// dlib's own file (full precision, CC0; not committed: 22 MB, the same network as
/// models/face-api) reads into the same tensors as face-api.js's 8-bit copy, each value within
/// half a quantisation step, and describes the faces as that copy does. Run with
/// `cargo test --test face_descriptor -- --ignored` (SCN_DLIB_DAT names the file; default
/// ../shared/pretrained/dlib_face_recognition_resnet_model_v1.dat).
#[test]
#[ignore = "needs dlib's .dat file (../shared/pretrained or SCN_DLIB_DAT)"]
fn dlibs_own_file_holds_face_apis_weights_at_full_precision() {
    let path = std::env::var_os("SCN_DLIB_DAT").map_or_else(
        || root().join("../shared/pretrained/dlib_face_recognition_resnet_model_v1.dat"),
        PathBuf::from,
    );
    let dat = scn::train::dlib_dat::read(&path).expect("dlib's file reads");
    let quantised = face_api_weights();
    assert_eq!(dat.tensors.len(), quantised.tensors.len());
    for (name, q) in &quantised.tensors {
        let d = &dat.tensors[name];
        assert_eq!(d.shape, q.shape, "{name}");
        let (lo, hi) = q
            .values
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let step = (hi - lo) / 255.0;
        let worst = d
            .values
            .iter()
            .zip(&q.values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 0.5 * step + 1e-6, "{name}: {worst} apart, step {step}");
    }
    let full = descriptors(&dat, &photos());
    let eight_bit = descriptors(&quantised, &photos());
    for (f, e) in full.iter().zip(&eight_bit) {
        assert!(distance(f, e) < 0.05, "{}", distance(f, e));
    }
    let same = distance(&full[0], &full[1]);
    println!(
        "full precision: obama-obama2 {same:.3}, obama-biden {:.3}",
        distance(&full[0], &full[2])
    );
    assert!(same < 0.6 && distance(&full[0], &full[2]) > 0.6);
}
