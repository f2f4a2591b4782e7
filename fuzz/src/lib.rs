//! The bodies of scn's fuzz targets: each takes the fuzzer's bytes, hands them to scn through
//! the same entry point a user's file takes (`Dataset::open`, `Classifier::load`, ...), and
//! uses what comes back. An error is a fine outcome; a panic, a hang or an allocation beyond
//! the input's means is a finding.
//!
//! Files are written into one scratch folder per process (a tmpfs where the system has one),
//! so every target exercises the real path and the real readers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, OnceLock};

use scn::source::{Frame, FrameSource, images::ImageFiles};
use scn::train::data::{Dataset, Format, OpenOptions, Split};
use scn::train::metadata::{FaceTemplate, ModelMetadata};
use scn::train::run_state;
use scn::{Classifier, ModelOverrides};

/// Where the dependencies whose panics scn contains live (their source paths).
const CONTAINED: [&str; 9] = [
    "/tract-",
    "/image-",
    "/zune-",
    "/png-",
    "/fdeflate-",
    "/miniz_oxide-",
    "/prost-",
    "/half-",
    "/ndarray-",
];

/// libFuzzer's panic hook aborts on every panic, even one that scn catches at a load boundary
/// (`scn_train::contain`). This hook lets panics raised inside the contained dependencies go on
/// to scn's guard, printing the first one of each place ("contained: ..."); a panic anywhere
/// else, scn's own code above all, still aborts and is a finding. A dependency panic that scn
/// does not catch still reaches libFuzzer, which reports it.
fn contain_dependency_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        let seen = Mutex::new(HashSet::new());
        std::panic::set_hook(Box::new(move |info| {
            let place = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            if CONTAINED.iter().any(|d| place.contains(d)) {
                if seen.lock().is_ok_and(|mut s| s.insert(place.clone())) {
                    eprintln!("contained: {info}");
                }
            } else {
                abort(info);
            }
        }));
    });
}

/// The per-process scratch folder.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let made = if shm.is_dir() {
            tempfile::Builder::new().prefix("scn-fuzz").tempdir_in(shm)
        } else {
            tempfile::Builder::new().prefix("scn-fuzz").tempdir()
        };
        made.expect("a scratch folder for the fuzz target")
    })
    .path()
}

/// A fresh, empty folder `name` inside the scratch folder.
fn fresh(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch folder is writable");
    dir
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("the scratch folder is writable");
    }
    std::fs::write(path, bytes).expect("the scratch folder is writable");
}

/// A valid 48x48 grey PNG, encoded once.
fn png48() -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    PNG.get_or_init(|| {
        let img = image::GrayImage::from_fn(48, 48, |x, y| image::Luma([(x * 5 + y * 3) as u8]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).expect("PNG encodes");
        out.into_inner()
    })
}

/// A fresh folder `name` with FERPlus's three split folders, each holding fer0000000.png and
/// fer0000001.png.
fn ferplus_folders(name: &str) -> PathBuf {
    let root = fresh(name);
    for split in ["FER2013Train", "FER2013Valid", "FER2013Test"] {
        for image in ["fer0000000.png", "fer0000001.png"] {
            write(&root.join(split).join(image), png48());
        }
    }
    root
}

/// Opens a dataset and decodes the first images of every split, as training would.
fn open_and_load(root: &Path, format: Format) {
    let options = OpenOptions {
        format: Some(format),
        ..Default::default()
    };
    if let Ok(ds) = Dataset::open(root, &options) {
        for split in [Split::Train, Split::Valid, Split::Test] {
            if let Some(data) = ds.split(split) {
                for sample in data.samples.iter().take(8) {
                    let _ = sample.image.load();
                    let _ = sample.image.location();
                }
            }
        }
        let _ = ds.classes.names();
    }
}

/// RAF-DB: the bytes are `EmoLabel/list_patition_label.txt`; two aligned images exist.
pub fn rafdb_labels(data: &[u8]) {
    contain_dependency_panics();
    let root = fresh("rafdb");
    write(&root.join("EmoLabel/list_patition_label.txt"), data);
    for name in ["train_00001_aligned.jpg", "test_0001_aligned.jpg"] {
        write(&root.join("Image/aligned").join(name), png48());
    }
    open_and_load(&root, Format::Rafdb);
}

/// FERPlus: the bytes are `FER2013Train/label.csv`; valid and test have one good row each, and
/// fer0000000.png and fer0000001.png exist in every split.
pub fn ferplus_labels(data: &[u8]) {
    contain_dependency_panics();
    let root = ferplus_folders("ferplus");
    for split in ["FER2013Valid", "FER2013Test"] {
        write(
            &root.join(split).join("label.csv"),
            b"fer0000000.png,\"(0, 0, 48, 48)\",10,0,0,0,0,0,0,0,0,0\n",
        );
    }
    write(&root.join("FER2013Train/label.csv"), data);
    open_and_load(&root, Format::Ferplus);
}

/// FER2013: the bytes are Kaggle's `fer2013.csv` (pixels as text).
pub fn fer2013_csv(data: &[u8]) {
    contain_dependency_panics();
    let root = fresh("fer2013");
    let csv = root.join("fer2013.csv");
    write(&csv, data);
    open_and_load(&csv, Format::Fer2013);
}

/// FER2013's original labels over the FERPlus folders: the bytes are
/// `fer2013_original_labels.csv`.
pub fn fer2013_original_labels(data: &[u8]) {
    contain_dependency_panics();
    let root = ferplus_folders("fer2013-original");
    write(&root.join("fer2013_original_labels.csv"), data);
    open_and_load(&root, Format::Fer2013);
}

/// Image folders: each line of the input names a file to create (`train/happy/a.png`, ...);
/// its content is a valid PNG when the name ends in `.png`, else the rest of the line.
pub fn folder_names(data: &[u8]) {
    contain_dependency_panics();
    let root = fresh("folder");
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(24) {
        let (name, body) = line.split_once('|').unwrap_or((line, ""));
        let rel = Path::new(name);
        let safe = !name.is_empty()
            && name.len() <= 120
            && !name.contains('\0')
            && rel.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            continue;
        }
        let path = root.join(rel);
        if path.exists() {
            continue;
        }
        let bytes = if name.ends_with(".png") {
            png48()
        } else {
            body.as_bytes()
        };
        if let Some(parent) = path.parent()
            && std::fs::create_dir_all(parent).is_err()
        {
            continue;
        }
        let _ = std::fs::write(&path, bytes);
    }
    open_and_load(&root, Format::Folder);
}

/// An expression model: the bytes are the `.onnx` file; a model that loads classifies a face.
pub fn onnx_model(data: &[u8]) {
    contain_dependency_panics();
    let path = fresh("onnx").join("model.onnx");
    write(&path, data);
    if let Ok(classifier) = Classifier::load(&path, &ModelOverrides::default()) {
        let side = classifier.input().size.min(256);
        let face = image::DynamicImage::new_luma8(side, side);
        let _ = classifier.classify(&[face]);
    }
}

/// A model's metadata: the bytes are lines `key<TAB>value`, the ONNX file's metadata_props.
pub fn model_metadata(data: &[u8]) {
    contain_dependency_panics();
    let text = String::from_utf8_lossy(data);
    let props: Vec<(&str, &str)> = text.lines().map(|l| l.split_once('\t').unwrap_or((l, ""))).collect();
    if let Ok(metadata) = ModelMetadata::from_props(props) {
        let _ = metadata.to_props();
        for alpha in [0.0, 0.5, 1.0, f32::NAN] {
            let _ = metadata.certainty(alpha);
        }
    }
}

/// A face template (`scn export --face-template FILE`): the bytes are the JSON; a template that
/// parses aligns a face with it.
pub fn face_template(data: &[u8]) {
    contain_dependency_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(template) = FaceTemplate::from_json(text) {
        let frame = image::RgbImage::new(64, 64);
        let landmarks = [[20.0, 24.0], [44.0, 24.0], [32.0, 36.0], [23.0, 48.0], [41.0, 48.0]];
        let mut crop = image::RgbImage::new(1, 1);
        let _ = scn::face::align::align_into(&frame, &landmarks, &template, 48, &mut crop);
    }
}

/// A checkpoint's `state.json` (what `scn train --resume` reads first); a state that parses is
/// written back and must read the same.
pub fn checkpoint_state(data: &[u8]) {
    contain_dependency_panics();
    let dir = fresh("checkpoint");
    write(&dir.join(run_state::STATE_FILE), data);
    if let Ok(state) = run_state::read_state(&dir) {
        let again = serde_json::to_vec(&state).expect("a state that was read serialises");
        write(&dir.join(run_state::STATE_FILE), &again);
        let reread = run_state::read_state(&dir).expect("a state that was written reads back");
        assert_eq!(reread.epoch, state.epoch);
        assert_eq!(reread.classes, state.classes);
    }
}

/// A camera frame: byte 0 picks the pixel format, bytes 1-4 the width and height (16 bits each),
/// the rest is the frame's buffer.
pub fn camera_frame(data: &[u8]) {
    contain_dependency_panics();
    use scn::source::camera::{PixelFormat, frame_to_rgb};
    let [kind, w0, w1, h0, h1, buffer @ ..] = data else {
        return;
    };
    let format = match kind % 6 {
        0 => PixelFormat::Mjpeg,
        1 => PixelFormat::Yuyv,
        2 => PixelFormat::Nv12,
        3 => PixelFormat::Gray,
        4 => PixelFormat::Rgb,
        _ => PixelFormat::Bgr,
    };
    let width = usize::from(u16::from_le_bytes([*w0, *w1]));
    let height = usize::from(u16::from_le_bytes([*h0, *h1]));
    let mut out = image::RgbImage::new(1, 1);
    let _ = frame_to_rgb(format, buffer, width, height, &mut out);
}

/// An image given to `scn run --images`: byte 0 picks the extension (PNG, JPEG, BMP), the rest
/// is the file.
pub fn image_file(data: &[u8]) {
    contain_dependency_panics();
    let [kind, file @ ..] = data else {
        return;
    };
    let extension = ["png", "jpg", "bmp"][usize::from(*kind) % 3];
    let path = fresh("images").join(format!("frame.{extension}"));
    write(&path, file);
    if let Ok(mut source) = ImageFiles::open(&[path]) {
        let mut frame = Frame::empty();
        while let Ok(true) = source.next_into(&mut frame) {}
    }
}
