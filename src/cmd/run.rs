//! `scn run`: frames from a camera, a video or images through the recognizer, to a window,
//! JSON lines and/or annotated PNGs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use scn::draw::{Canvas, Rgb};
use scn::recognizer::Recognizer;
use scn::source::camera::{self, Camera, CameraRequest};
use scn::source::images::ImageFiles;
use scn::source::video::VideoFile;
use scn::source::{Frame, FrameSource, Poll};
use scn::track::TrackerConfig;
use scn::window::Display;

use super::load;
use crate::cli::RunArgs;

fn list_cameras() -> Result<ExitCode> {
    let found = camera::list()?;
    if found.is_empty() {
        println!("{}", camera::describe_found(&found));
        return Ok(ExitCode::FAILURE);
    }
    for c in &found {
        println!("{}\t{}\t{}", c.index, c.name, c.description);
    }
    Ok(ExitCode::SUCCESS)
}

/// Name of the annotated PNG of a frame.
fn save_name(frame: &Frame) -> String {
    match &frame.path {
        Some(path) => format!(
            "{}.png",
            path.file_stem().map_or_else(|| "image".into(), |s| s.to_string_lossy())
        ),
        None => format!("frame-{:06}.png", frame.index),
    }
}

fn screenshot_path(dir: Option<&Path>, index: u64) -> PathBuf {
    let name = format!("scn-screenshot-{index:06}.png");
    dir.map_or_else(|| PathBuf::from(&name), |d| d.join(&name))
}

/// Writes what the window shows (key `s`) into `dir` (or the current folder).
fn save_screenshot(canvas: &Canvas, dir: Option<&Path>, index: u64) -> Result<()> {
    let path = screenshot_path(dir, index);
    canvas.save_png(&path)?;
    log::info!("screenshot: {}", path.display());
    Ok(())
}

/// Running totals for the summary.
#[derive(Default)]
struct Totals {
    frames: u64,
    with_faces: u64,
    faces: u64,
    detect: f64,
    align: f64,
    classify: f64,
}

/// Runs `scn run`.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    if args.list {
        return list_cameras();
    }
    if args.no_window && !args.json && args.save.is_none() {
        bail!("--no-window shows nothing: add --json and/or --save DIR");
    }
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .context("cannot set up the inference threads")?;
    }
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }

    if args.looping && args.video.is_none() {
        bail!("--loop plays a video file again and again: it needs --video FILE");
    }
    // The frame source first: a missing camera or video is reported before models load.
    let is_images = !args.images.is_empty();
    let mut source: Box<dyn FrameSource> = if let Some(video) = &args.video {
        Box::new(VideoFile::open(video)?.looping(args.looping))
    } else if is_images {
        Box::new(ImageFiles::open(&args.images)?)
    } else {
        Box::new(
            Camera::open(CameraRequest {
                camera: args.camera.clone().unwrap_or_else(|| "0".into()),
                resolution: Some(args.resolution),
                fps: Some(args.fps),
                reconnect: Duration::from_secs_f64(args.reconnect.max(0.0)),
                ..CameraRequest::default()
            })
            .map_err(|e| {
                anyhow::Error::new(e).context(
                    "cannot read from the camera (without one: `scn run --images assets/faces` for the \
                     photos, `--video FILE` for a video file)",
                )
            })?,
        )
    };
    log::info!("reading {}", source.describe());

    let classifier = load::classifier(&args.model)?;
    let detector = load::detector(args.detector, args.min_face, args.face_threshold)?;
    let tracking = TrackerConfig {
        window: if args.raw { 1 } else { args.smooth.max(1) },
        ..TrackerConfig::default()
    };
    let classes = classifier.classes().to_vec();
    let mut recognizer =
        Recognizer::new(detector, classifier, tracking.clone(), args.max_faces).detect_every(args.detect_every);

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while the first is handled would kill the process: fine.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }

    let mut frame = Frame::empty();
    let mut canvas = Canvas::new(1, 1, Rgb::BLACK);
    let mut display: Option<Display> = None;
    let mut totals = Totals::default();
    let pace = !args.no_window && !args.fast && args.video.is_some();
    let started = Instant::now();
    let mut last = Instant::now();
    let mut fps: Option<f64> = None;
    let mut paused = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        if stop.load(Ordering::SeqCst) {
            log::info!("interrupted");
            break;
        }
        if paused {
            let keys = display.as_mut().map(|d| d.idle()).unwrap_or_default();
            if keys.quit {
                break;
            }
            if keys.toggle_pause {
                paused = false;
            }
            if keys.screenshot {
                save_screenshot(&canvas, args.save.as_deref(), frame.index)?;
            }
            std::thread::sleep(Duration::from_millis(15));
            continue;
        }
        if args.max_frames.is_some_and(|m| totals.frames >= m) {
            break;
        }
        // With a window, a camera that stops delivering frames is polled, so that the window
        // stays responsive and says what is happening; headless runs simply wait.
        let next = match display.as_ref() {
            Some(_) => source.poll_into(&mut frame, Duration::from_millis(100))?,
            None if source.next_into(&mut frame)? => Poll::Frame,
            None => Poll::End,
        };
        match next {
            Poll::Frame => {}
            Poll::End => break,
            Poll::Waiting(status) => {
                if let Some(d) = display.as_mut() {
                    scn::overlay::notice(&mut canvas, &status);
                    let keys = d.show(&canvas)?;
                    if keys.quit {
                        break;
                    }
                    if keys.screenshot {
                        save_screenshot(&canvas, args.save.as_deref(), frame.index)?;
                    }
                }
                continue;
            }
        }
        if is_images {
            // Unrelated photos: no tracking or smoothing across them.
            recognizer.reset_tracks(tracking.clone());
        }
        let result = recognizer
            .process(&frame.image)
            .with_context(|| format!("frame {} of {}", frame.index, source.describe()))?;
        totals.frames += 1;
        totals.faces += result.faces.len() as u64;
        totals.with_faces += u64::from(!result.faces.is_empty());
        totals.detect += result.ms.detect;
        totals.align += result.ms.align;
        totals.classify += result.ms.classify;
        let now = Instant::now();
        let dt = (now - last).as_secs_f64();
        last = now;
        if totals.frames > 1 && dt > 0.0 {
            fps = Some(fps.map_or(1.0 / dt, |f| 0.9 * f + 0.1 / dt));
        }

        if args.json {
            serde_json::to_writer(&mut out, &scn::output::FrameRecord::new(&frame, &result, &classes))?;
            writeln!(out)?;
            out.flush()?;
        }
        if args.save.is_some() || !args.no_window {
            canvas.load_rgb(&frame.image);
            scn::overlay::draw(&mut canvas, &result, &classes, fps, false);
        }
        if let Some(dir) = &args.save {
            let path = dir.join(save_name(&frame));
            canvas.save_png(&path)?;
        }
        if !args.no_window {
            if display.is_none() {
                display = Some(Display::open(
                    &format!("scn - {}", source.describe()),
                    canvas.width,
                    canvas.height,
                )?);
            }
            if let Some(d) = display.as_mut() {
                let keys = d.show(&canvas)?;
                if keys.quit {
                    break;
                }
                if keys.screenshot {
                    save_screenshot(&canvas, args.save.as_deref(), frame.index)?;
                }
                paused = keys.toggle_pause || (is_images && !args.fast);
                if keys.toggle_pause {
                    // Say so on the frame that stays on screen.
                    canvas.load_rgb(&frame.image);
                    scn::overlay::draw(&mut canvas, &result, &classes, fps, true);
                    d.show(&canvas)?;
                }
            }
        }
        if pace {
            let due = Duration::from_secs_f64(frame.time.max(0.0));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    drop(out);

    let n = totals.frames.max(1) as f64;
    let elapsed = started.elapsed().as_secs_f64();
    // Whether recognition keeps up: the source's own rate beside the one reached.
    let source_rate = source
        .fps()
        .map_or(String::new(), |f| format!("; the source gives {f:.1}"));
    log::info!(
        "{} frames in {elapsed:.1} s ({:.1} fps{source_rate}), faces in {} of them ({} faces); mean per frame: detect {:.1} ms, align {:.1} ms, classify {:.1} ms",
        totals.frames,
        totals.frames as f64 / elapsed.max(1e-9),
        totals.with_faces,
        totals.faces,
        totals.detect / n,
        totals.align / n,
        totals.classify / n
    );
    let skipped = source.skipped();
    if skipped > 0 {
        log::error!("{skipped} of the images could not be decoded (named above) and were left out");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
