//! `scn run` end to end: images, video clips made from the public-domain photos (ffmpeg), the
//! JSON lines, annotated frames, the window under Xvfb, and the errors for missing inputs.
#![cfg(feature = "train")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{fails_naming, have_program, scn, text, tiny_model};

/// One tiny model for all tests of this file.
fn model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = tiny_model(dir.path());
        (dir, path)
    });
    path
}

fn faces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/faces")
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A 640x360 H.264 clip of `photo` panning slowly (`frames` frames at 25 fps).
fn clip(dir: &Path, photo: &str, frames: u32) -> PathBuf {
    let out = dir.join(format!("{photo}.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(faces_dir().join(photo))
        .args([
            "-vf",
            "scale=640:-2,crop=640:360:0:'(ih-360)/2+20*sin(n/6)',format=yuv420p",
            "-r",
            "25",
            "-frames:v",
            &frames.to_string(),
            "-c:v",
            "libx264",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not make the test clip");
    out
}

#[test]
fn images_give_one_json_line_each_with_every_face_field() {
    // The default detector (RetinaFace), then MTCNN.
    for detector in [None, Some("mtcnn")] {
        images_give_one_json_line_each_with(detector);
    }
}

fn images_give_one_json_line_each_with(detector: Option<&str>) {
    let faces = faces_dir();
    let mut args = vec![
        "run",
        "-m",
        model().to_str().unwrap(),
        "--images",
        faces.to_str().unwrap(),
        "--no-window",
        "--json",
    ];
    if let Some(d) = detector {
        args.extend(["--detector", d]);
    }
    let out = scn(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 6, "one line per image");
    let count = |name: &str| {
        let line = lines
            .iter()
            .find(|l| l["image"].as_str().unwrap().ends_with(name))
            .unwrap();
        line["faces"].as_array().unwrap().len()
    };
    assert_eq!(count("coffee.jpg"), 0);
    for name in ["astronaut.jpg", "biden.jpg", "grace_hopper_512x512.jpg", "obama2.jpg"] {
        assert_eq!(count(name), 1, "{name}");
    }
    let grace = lines
        .iter()
        .find(|l| l["image"].as_str().unwrap().ends_with("grace_hopper_512x512.jpg"))
        .unwrap();
    let face = &grace["faces"][0];
    let b: Vec<f64> = face["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // MTCNN's box; RetinaFace's reaches a little lower on the chin.
    assert!(
        (b[0] - 178.0).abs() < 6.0 && (b[3] - 309.0).abs() < 10.0,
        "{detector:?}: {b:?}"
    );
    assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
    let probs = face["probabilities"].as_object().unwrap();
    assert_eq!(probs.len(), 3, "one probability per class, by name");
    let sum: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4);
    assert!(probs.contains_key(face["expression"].as_str().unwrap()));
    assert!(face["alpha"].as_f64().unwrap() > 0.0 && face["alpha"].as_f64().unwrap() < 1.0);
    assert!(face["certainty"].is_number());
    assert_eq!(face["id"], 1);
    for stage in ["detect", "align", "classify", "total"] {
        assert!(grace["ms"][stage].as_f64().unwrap() >= 0.0, "{stage}");
    }
    assert_eq!(grace["width"], 512);
}

#[test]
fn a_looped_clip_plays_again_with_frames_counting_up() {
    if !have_program("ffmpeg", "-version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let video = clip(dir.path(), "grace_hopper_512x512.jpg", 6);
    let m = model();
    let (m, v) = (m.to_str().unwrap(), video.to_str().unwrap());
    let out = scn(&[
        "run",
        "-m",
        m,
        "--video",
        v,
        "--loop",
        "--max-frames",
        "20",
        "--no-window",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    let frames: Vec<u64> = lines.iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames, (0..20).collect::<Vec<_>>(), "three and a bit plays of 6 frames");
    assert!(lines.iter().all(|l| l["faces"].as_array().unwrap().len() == 1));
    let times: Vec<f64> = lines.iter().map(|l| l["time"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    // --loop is for video files.
    let out = scn(&["run", "-m", m, "--images", v, "--loop", "--no-window", "--json"]);
    fails_naming(&out, &["--loop", "--video"]);
}

#[test]
fn a_clip_with_a_face_finds_it_in_every_frame_and_keeps_its_id() {
    if !have_program("ffmpeg", "-version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let video = clip(dir.path(), "grace_hopper_512x512.jpg", 30);
    let saved = dir.path().join("frames");
    let out = scn(&[
        "run",
        "-m",
        model().to_str().unwrap(),
        "--video",
        video.to_str().unwrap(),
        "--no-window",
        "--json",
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 30);
    let with_face = lines
        .iter()
        .filter(|l| l["faces"].as_array().unwrap().len() == 1)
        .count();
    assert!(with_face >= 29, "a face in {with_face} of 30 frames");
    let ids: std::collections::BTreeSet<u64> = lines
        .iter()
        .flat_map(|l| l["faces"].as_array().unwrap().iter().map(|f| f["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(ids.len(), 1, "one face, one track id: {ids:?}");
    // The whole frame is searched every 5th frame (the default --detect-every), the face is
    // followed in between.
    let full: Vec<u64> = lines
        .iter()
        .filter(|l| l["full_detection"] == true)
        .map(|l| l["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(full, vec![0, 5, 10, 15, 20, 25]);
    assert_eq!(lines[29]["frame"], 29);
    assert!(
        (lines[25]["time"].as_f64().unwrap() - 1.0).abs() < 1e-6,
        "25 fps timestamps"
    );
    // Annotated frames: the face box is drawn over the picture.
    let first = image::open(saved.join("frame-000000.png")).unwrap().into_rgb8();
    assert_eq!(first.dimensions(), (640, 360));
    let face = &lines[0]["faces"][0]["box"];
    let (x1, y1, y2) = (
        face[0].as_f64().unwrap() as u32,
        face[1].as_f64().unwrap() as u32,
        face[3].as_f64().unwrap() as u32,
    );
    let edge = first.get_pixel(x1 + 1, (y1 + y2) / 2);
    let palette: Vec<[u8; 3]> = (0..3)
        .map(|i| {
            let c = scn::overlay::class_color(i);
            [c.0, c.1, c.2]
        })
        .collect();
    assert!(palette.contains(&edge.0), "box edge colour {:?}", edge.0);
    assert_eq!(std::fs::read_dir(&saved).unwrap().count(), 30);
}

#[test]
fn a_clip_without_faces_finds_none() {
    if !have_program("ffmpeg", "-version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let video = clip(dir.path(), "coffee.jpg", 20);
    let out = scn(&[
        "run",
        "-m",
        model().to_str().unwrap(),
        "--video",
        video.to_str().unwrap(),
        "--no-window",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 20);
    assert!(lines.iter().all(|l| l["faces"].as_array().unwrap().is_empty()));
}

/// What a fresh clone does: no `--model`, no `$SCN_MODEL`, no dataset, run from another folder.
fn scn_with_the_shipped_model(args: &[&str]) -> std::process::Output {
    let elsewhere = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_scn"))
        .args(args)
        .current_dir(elsewhere.path())
        .env_remove("SCN_MODEL")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn the_shipped_model_recognizes_the_photos_with_no_model_given() {
    let faces = faces_dir();
    let out = scn_with_the_shipped_model(&["run", "--images", faces.to_str().unwrap(), "--no-window", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("scn-ferplus.onnx"), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 6);
    let faces_of = |name: &str| -> Vec<serde_json::Value> {
        let line = lines
            .iter()
            .find(|l| l["image"].as_str().unwrap().ends_with(name))
            .unwrap();
        line["faces"].as_array().unwrap().clone()
    };
    assert!(faces_of("coffee.jpg").is_empty());
    // Two broad smiles: the shipped model must see them.
    for name in ["obama.jpg", "astronaut.jpg"] {
        let faces = faces_of(name);
        assert_eq!(faces.len(), 1, "{name}: {faces:?}");
        let face = &faces[0];
        assert_eq!(face["expression"], "happiness", "{name}: {face}");
        assert!(face["probability"].as_f64().unwrap() > 0.5, "{name}: {face}");
        assert_eq!(
            face["probabilities"].as_object().unwrap().len(),
            8,
            "FERPlus's 8 classes"
        );
        let alpha = face["alpha"].as_f64().unwrap();
        assert!(
            alpha > 0.0 && alpha < 1.0 && face["certainty"].is_number(),
            "SCN's attention: {face}"
        );
    }

    let obama = faces.join("obama.jpg");
    let out = scn_with_the_shipped_model(&["predict", "--json", obama.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = &json_lines(&out.stdout)[0];
    let faces = line["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{line}");
    assert_eq!(faces[0]["expression"], "happiness");
    assert_eq!(faces[0]["box"].as_array().unwrap().len(), 4);
}

#[test]
fn an_undecodable_image_among_good_ones_is_named_and_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.jpg");
    std::fs::write(&broken, b"not a jpeg").unwrap();
    let grace = faces_dir().join("grace_hopper_512x512.jpg");
    let out = scn(&[
        "run",
        "-m",
        model().to_str().unwrap(),
        "--images",
        broken.to_str().unwrap(),
        grace.to_str().unwrap(),
        "--no-window",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "exit status 1 at the end");
    let err = text(&out.stderr);
    assert!(err.contains("broken.jpg") && err.contains("cannot decode"), "{err}");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "the good image is still processed");
    assert_eq!(lines[0]["faces"].as_array().unwrap().len(), 1);
}

#[test]
fn predict_finds_the_faces_of_photos_and_classifies_crops_whole() {
    let m = model().to_str().unwrap();
    let obama = faces_dir().join("obama.jpg");
    let coffee = faces_dir().join("coffee.jpg");
    let out = scn(&[
        "predict",
        "-m",
        m,
        "--json",
        obama.to_str().unwrap(),
        coffee.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2, "one object per image");
    assert_eq!(lines[0]["crop"], false);
    let faces = lines[0]["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{}", lines[0]);
    let face = &faces[0];
    let b: Vec<f64> = face["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (w, h) = (
        lines[0]["width"].as_f64().unwrap(),
        lines[0]["height"].as_f64().unwrap(),
    );
    assert!(
        b[0] > 0.0 && b[2] < w && b[1] > 0.0 && b[3] < h && b[2] - b[0] > 100.0,
        "{b:?}"
    );
    assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
    assert!(face["score"].as_f64().unwrap() > 0.9);
    assert!(
        face["probabilities"]
            .as_object()
            .unwrap()
            .contains_key(face["expression"].as_str().unwrap())
    );
    assert!(
        lines[1]["faces"].as_array().unwrap().is_empty(),
        "no face in the coffee cup"
    );

    // --crop: the whole photo is one face, without detection.
    let out = scn(&["predict", "-m", m, "--json", "--crop", obama.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = &json_lines(&out.stdout)[0];
    assert_eq!(line["crop"], true);
    assert_eq!(line["faces"][0]["box"][2].as_f64(), line["width"].as_f64());
    assert!(line["faces"][0]["landmarks"].is_null());

    // The table: a row per face, and "no face found" for the cup.
    let out = scn(&["predict", "-m", m, obama.to_str().unwrap(), coffee.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("no face found"), "{table}");
}

#[test]
fn missing_inputs_are_named() {
    let m = model().to_str().unwrap();
    let out = scn(&[
        "run",
        "-m",
        m,
        "--video",
        "/nonexistent/clip.mp4",
        "--no-window",
        "--json",
    ]);
    fails_naming(&out, &["/nonexistent/clip.mp4"]);

    let out = scn(&[
        "run",
        "-m",
        m,
        "--images",
        "/nonexistent/photos",
        "--no-window",
        "--json",
    ]);
    fails_naming(&out, &["/nonexistent/photos"]);

    let out = scn(&["run", "-m", m, "--images", faces_dir().to_str().unwrap(), "--no-window"]);
    fails_naming(&out, &["--json"]);

    // This machine's cameras: with none (CI), opening one says so and lists what was found.
    let list = scn(&["run", "--list"]);
    if text(&list.stdout).contains("no cameras") {
        assert_eq!(list.status.code(), Some(1));
        let out = scn(&["run", "-m", m, "--camera", "0", "--no-window", "--json"]);
        fails_naming(&out, &["camera 0", "no cameras were found", "--images assets/faces"]);
    }
}

/// The window, on a virtual X display: the frame and the overlay are drawn.
#[test]
fn the_window_shows_the_annotated_frames() {
    if !(have_program("ffmpeg", "-version") && have_program("Xvfb", "-help") && have_program("import", "-version")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let video = clip(dir.path(), "grace_hopper_512x512.jpg", 75);
    let display = format!(":{}", 90 + std::process::id() % 100);
    let mut xvfb = Command::new("Xvfb")
        .args([display.as_str(), "-screen", "0", "800x600x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let mut run = Command::new(env!("CARGO_BIN_EXE_scn"))
        .args([
            "run",
            "-m",
            model().to_str().unwrap(),
            "--video",
            video.to_str().unwrap(),
            "--json",
        ])
        .env("DISPLAY", &display)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for a few processed frames (the clip plays at its own speed: 3 s).
    let mut lines = BufReader::new(run.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut seen = 0;
    while seen < 5 && started.elapsed() < Duration::from_secs(60) {
        match lines.next() {
            Some(Ok(_)) => seen += 1,
            _ => break,
        }
    }
    let shot = dir.path().join("shot.png");
    let grabbed = Command::new("import")
        .args(["-display", display.as_str(), "-window", "root"])
        .arg(&shot)
        .status()
        .unwrap();
    let _ = run.kill();
    let output = run.wait_with_output().unwrap();
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    assert!(seen >= 5, "scn showed {seen} frames: {}", text(&output.stderr));
    assert!(grabbed.success());
    let shot = image::open(&shot).unwrap().into_rgb8();
    // The picture is there (not a black window) ...
    let bright = shot
        .pixels()
        .filter(|p| p.0.iter().map(|&c| u32::from(c)).sum::<u32>() > 150)
        .count();
    assert!(bright > 100_000, "only {bright} bright pixels on the screen");
    // ... and so is the overlay: a face box in one of the class colours.
    let palette: Vec<[u8; 3]> = (0..3)
        .map(|i| {
            let c = scn::overlay::class_color(i);
            [c.0, c.1, c.2]
        })
        .collect();
    let boxed = shot.pixels().filter(|p| palette.contains(&p.0)).count();
    assert!(boxed > 200, "{boxed} pixels in the class colours");
}

/// The real clips of ../shared/fixtures (not redistributable, so not in the repository).
#[test]
#[ignore = "needs ../shared/fixtures/videos; run: cargo test --test run_cli -- --ignored"]
fn the_shared_fixture_clips() {
    let videos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/videos");
    let faces_per_frame = |name: &str| -> Vec<usize> {
        let out = scn(&[
            "run",
            "-m",
            model().to_str().unwrap(),
            "--video",
            videos.join(name).to_str().unwrap(),
            "--no-window",
            "--json",
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        json_lines(&out.stdout)
            .iter()
            .map(|l| l["faces"].as_array().unwrap().len())
            .collect()
    };
    let one = faces_per_frame("single_face.mp4");
    assert_eq!(one.len(), 72);
    assert!(one.iter().filter(|&&n| n == 1).count() >= 70, "{one:?}");
    assert!(faces_per_frame("no_face.mp4").iter().all(|&n| n == 0));
    // A face clip followed by a clip without one: faces first, then none.
    let mixed = faces_per_frame("face_noface.mov");
    let first_empty = mixed.iter().position(|&n| n == 0).unwrap();
    assert!(first_empty >= 60, "{mixed:?}");
    assert!(mixed[first_empty + 5..].iter().all(|&n| n == 0), "{mixed:?}");
}
