//! Cameras through nokhwa (V4L2 on Linux, AVFoundation on macOS, Media Foundation on Windows).
//! Frames are captured on their own thread (so capture overlaps the recognizer's work) and
//! decoded there (MJPEG with the `image` crate's pure-Rust JPEG decoder, YUYV and NV12 with
//! integer BT.601 arithmetic) into a few buffers that go back and forth. A camera that fails
//! (unplugged, taken by another program) is reopened for a while before the stream ends with a
//! clear error; one that stops answering altogether (a read that never returns) is left behind
//! after a few seconds and reopened the same way: never a hang.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;

use super::{Frame, FrameSource, Poll, SourceError};

pub mod pixels;
pub use pixels::{PixelFormat, frame_to_rgb, nv12_to_rgb, yuyv_to_rgb};

/// The devices behind [`Camera`]: nokhwa's, or none in a build without the `camera` feature.
#[cfg(feature = "camera")]
#[path = "nokhwa_device.rs"]
mod imp;
#[cfg(not(feature = "camera"))]
#[path = "no_device.rs"]
mod imp;

/// One camera the system reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraEntry {
    /// What `--camera` takes (the index, or the backend's id string).
    pub index: String,
    /// Human-readable name.
    pub name: String,
    /// The backend's description (driver, bus).
    pub description: String,
}

/// What the user asks of a camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRequest {
    /// An index ("0") or a (part of a) name.
    pub camera: String,
    /// Wanted frame size; the closest the camera offers is taken.
    pub resolution: Option<(u32, u32)>,
    /// Wanted frame rate.
    pub fps: Option<u32>,
    /// How long to keep trying to reopen a camera that stopped delivering frames.
    pub reconnect: Duration,
    /// How long a frame may take before the camera counts as hung (and is reopened).
    pub stall: Duration,
}

impl Default for CameraRequest {
    fn default() -> Self {
        CameraRequest {
            camera: "0".into(),
            resolution: Some((640, 480)),
            fps: Some(30),
            reconnect: Duration::from_secs(10),
            stall: Duration::from_secs(5),
        }
    }
}

/// Lists the cameras.
pub fn list() -> Result<Vec<CameraEntry>, SourceError> {
    imp::list()
}

/// The camera `request` names among `found`: an index, else the first name containing it.
pub fn find<'a>(request: &str, found: &'a [CameraEntry]) -> Option<&'a CameraEntry> {
    let wanted = request.trim();
    found.iter().find(|c| c.index == wanted).or_else(|| {
        let lower = wanted.to_lowercase();
        found.iter().find(|c| c.name.to_lowercase().contains(&lower))
    })
}

/// "no cameras found" or "cameras found: 0 \"name\", ...", for error messages.
pub fn describe_found(found: &[CameraEntry]) -> String {
    if found.is_empty() {
        return "no cameras were found (is one plugged in, and may this user open /dev/video*?)".into();
    }
    let list: Vec<String> = found.iter().map(|c| format!("{} \"{}\"", c.index, c.name)).collect();
    format!("cameras found: {}", list.join(", "))
}

/// An open camera stream, as the platform backend (or a test) provides it. It lives on the
/// capture thread, which opens it.
pub trait CameraDevice {
    /// "camera \"name\" (640x480, 30 fps, MJPEG)".
    fn describe(&self) -> String;
    /// The negotiated frame rate.
    fn fps(&self) -> Option<f64>;
    /// Waits for the next frame and decodes it into `out`.
    fn read_into(&mut self, out: &mut RgbImage) -> Result<(), SourceError>;
}

/// Opens (or reopens) a camera device; called on the capture thread.
pub type Opener = Box<dyn FnMut(&CameraRequest) -> Result<Box<dyn CameraDevice>, SourceError> + Send>;

/// A live camera: frames from a [`CameraDevice`] captured on a thread of their own, reopened
/// when it stops delivering them.
pub struct Camera {
    request: CameraRequest,
    opener: Arc<Mutex<Opener>>,
    link: Link,
    started: Instant,
    next: u64,
    describe: String,
    fps: Option<f64>,
    /// When the last frame came (or the camera opened).
    last_frame: Instant,
    /// The wait for the next frame, while one lasts.
    waiting: Option<Wait>,
}

/// A wait for the next frame that [`Camera::poll_into`] may leave and take up again.
#[derive(Debug, Clone, Copy)]
struct Wait {
    /// When the current stretch began (the wait request or the last message).
    since: Instant,
    /// How long this stretch may last before the camera counts as hung.
    limit: Duration,
    /// The capture thread was started again after a hang.
    restarted: bool,
    /// The camera is being reopened (after a hang or a failed read).
    reopening: bool,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera").field("request", &self.request).finish()
    }
}

/// What the capture thread tells the camera.
enum Message {
    /// The device is open (again).
    Opened { describe: String, fps: Option<f64> },
    /// A read failed; the device is being reopened for up to `reconnect`.
    Reconnecting,
    /// A frame and its capture time (seconds since the camera was opened).
    Frame { image: RgbImage, time: f64 },
    /// The device failed for good; the thread has ended.
    Failed(SourceError),
}

/// The channels to one capture thread: frames in, emptied buffers back.
struct Link {
    frames: Receiver<Message>,
    free: Sender<RgbImage>,
}

/// Spare frame buffers (besides the caller's): one being filled, one waiting in the channel.
const BUFFERS: usize = 2;

/// Longest wait for a camera to open.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

impl Camera {
    /// Opens the camera the request names and starts its stream.
    pub fn open(request: CameraRequest) -> Result<Camera, SourceError> {
        Camera::with_opener(
            request,
            Box::new(|r: &CameraRequest| imp::Inner::open(r).map(|inner| Box::new(inner) as Box<dyn CameraDevice>)),
        )
    }

    /// A camera whose device comes from `opener` (called again, on the capture thread, to
    /// reconnect).
    pub fn with_opener(request: CameraRequest, opener: Opener) -> Result<Camera, SourceError> {
        let opener = Arc::new(Mutex::new(opener));
        let started = Instant::now();
        let link = spawn_capture(&request, &opener, started, None)?;
        let mut camera = Camera {
            request,
            opener,
            link,
            started,
            next: 0,
            describe: String::new(),
            fps: None,
            last_frame: started,
            waiting: None,
        };
        match camera.link.frames.recv_timeout(OPEN_TIMEOUT) {
            Ok(Message::Opened { describe, fps }) => {
                camera.describe = describe;
                camera.fps = fps;
                Ok(camera)
            }
            Ok(Message::Failed(error)) => Err(error),
            Ok(_) | Err(RecvTimeoutError::Disconnected) => Err(camera.error("the capture thread ended while opening")),
            Err(RecvTimeoutError::Timeout) => Err(camera.error(format!("did not open within {OPEN_TIMEOUT:?}"))),
        }
    }

    fn error(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Camera {
            camera: self.request.camera.clone(),
            reason: reason.into(),
        }
    }
}

impl FrameSource for Camera {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn fps(&self) -> Option<f64> {
        self.fps
    }

    fn next_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        loop {
            match self.poll_into(frame, Duration::from_secs(3600))? {
                Poll::Frame => return Ok(true),
                Poll::End => return Ok(false),
                Poll::Waiting(_) => {}
            }
        }
    }

    fn poll_into(&mut self, frame: &mut Frame, timeout: Duration) -> Result<Poll, SourceError> {
        let (stall, reconnect) = (self.request.stall, self.request.reconnect);
        let polled = Instant::now();
        loop {
            let wait = *self.waiting.get_or_insert(Wait {
                since: Instant::now(),
                limit: stall,
                restarted: false,
                reopening: false,
            });
            let left = wait.limit.saturating_sub(wait.since.elapsed());
            let budget = timeout.saturating_sub(polled.elapsed());
            let message = self.link.frames.recv_timeout(left.min(budget));
            let restart = |w: Wait, limit: Duration| Wait {
                since: Instant::now(),
                limit,
                ..w
            };
            match message {
                Ok(Message::Frame { image, time }) => {
                    let emptied = std::mem::replace(&mut frame.image, image);
                    // The capture thread may be gone (then the next call reports why).
                    let _ = self.link.free.send(emptied);
                    frame.index = self.next;
                    frame.time = time;
                    frame.path = None;
                    self.next += 1;
                    self.last_frame = Instant::now();
                    self.waiting = None;
                    return Ok(Poll::Frame);
                }
                Ok(Message::Opened { describe, fps }) => {
                    log::info!("camera {} is back: {describe}", self.request.camera);
                    self.describe = describe;
                    self.fps = fps;
                    self.waiting = Some(Wait {
                        reopening: false,
                        ..restart(wait, stall)
                    });
                }
                Ok(Message::Reconnecting) => {
                    self.waiting = Some(Wait {
                        reopening: true,
                        ..restart(wait, reconnect + stall)
                    });
                }
                Ok(Message::Failed(error)) => return Err(error),
                Err(RecvTimeoutError::Disconnected) => return Err(self.error("the capture thread ended")),
                Err(RecvTimeoutError::Timeout) if left > budget => {
                    let status = format!(
                        "camera {}: no frame for {:.1} s{}",
                        self.request.camera,
                        self.last_frame.elapsed().as_secs_f64(),
                        if wait.reopening { ", reopening it" } else { "" }
                    );
                    return Ok(Poll::Waiting(status));
                }
                Err(RecvTimeoutError::Timeout) if wait.restarted || reconnect.is_zero() => {
                    return Err(self.error(format!(
                        "delivered no frame for {:.1} s and could not be reopened (the camera or its driver \
                         stopped answering: unplug and replug it, or close other programs that use it)",
                        wait.limit.as_secs_f64()
                    )));
                }
                Err(RecvTimeoutError::Timeout) => {
                    // The device hangs inside a read: leave that thread behind and reopen.
                    log::warn!(
                        "camera {} delivered no frame for {:.1} s; trying to reopen it for {reconnect:?}",
                        self.request.camera,
                        wait.limit.as_secs_f64()
                    );
                    self.link = spawn_capture(&self.request, &self.opener, self.started, Some(reconnect))?;
                    self.waiting = Some(Wait {
                        restarted: true,
                        reopening: true,
                        ..restart(wait, reconnect + stall)
                    });
                }
            }
        }
    }
}

/// Starts a capture thread. It opens the device (retrying for `retry` with a test read, when
/// reopening a stalled camera), then fills the buffers it gets back, one frame each.
fn spawn_capture(
    request: &CameraRequest,
    opener: &Arc<Mutex<Opener>>,
    started: Instant,
    retry: Option<Duration>,
) -> Result<Link, SourceError> {
    let (frames_tx, frames) = mpsc::sync_channel(1);
    let (free, free_rx) = mpsc::channel();
    for _ in 0..BUFFERS {
        let _ = free.send(RgbImage::new(0, 0));
    }
    let (request, opener) = (request.clone(), Arc::clone(opener));
    let camera = request.camera.clone();
    std::thread::Builder::new()
        .name(format!("camera {camera}"))
        .spawn(move || capture(&request, &opener, started, retry, &frames_tx, &free_rx))
        .map_err(|e| SourceError::Camera {
            camera,
            reason: format!("cannot start the capture thread: {e}"),
        })?;
    Ok(Link { frames, free })
}

/// The capture thread's loop; it ends when the camera is dropped or the device fails for good.
fn capture(
    request: &CameraRequest,
    opener: &Mutex<Opener>,
    started: Instant,
    retry: Option<Duration>,
    frames: &SyncSender<Message>,
    free: &Receiver<RgbImage>,
) {
    let Ok(mut image) = free.recv() else { return };
    let opened = match retry {
        None => open_device(request, opener),
        Some(limit) => reopen_device(request, opener, Instant::now() + limit, &mut image, None),
    };
    let mut device = match opened {
        Ok(device) => device,
        Err(error) => {
            let _ = frames.send(Message::Failed(error));
            return;
        }
    };
    let opened = Message::Opened {
        describe: device.describe(),
        fps: device.fps(),
    };
    if frames.send(opened).is_err() {
        return;
    }
    // After a reopen the test read already holds a frame.
    let mut have_frame = retry.is_some();
    loop {
        if !have_frame && let Err(error) = device.read_into(&mut image) {
            log::warn!(
                "{}; trying to reopen it for {:?}",
                scn_train::error::report(&error),
                request.reconnect
            );
            if frames.send(Message::Reconnecting).is_err() {
                return;
            }
            let deadline = Instant::now() + request.reconnect;
            match reopen_device(request, opener, deadline, &mut image, Some(&error)) {
                Ok(new) => {
                    device = new;
                    let opened = Message::Opened {
                        describe: device.describe(),
                        fps: device.fps(),
                    };
                    if frames.send(opened).is_err() {
                        return;
                    }
                }
                Err(failed) => {
                    let _ = frames.send(Message::Failed(failed));
                    return;
                }
            }
        }
        let time = started.elapsed().as_secs_f64();
        if frames.send(Message::Frame { image, time }).is_err() {
            return;
        }
        let Ok(next) = free.recv() else { return };
        image = next;
        have_frame = false;
    }
}

fn open_device(request: &CameraRequest, opener: &Mutex<Opener>) -> Result<Box<dyn CameraDevice>, SourceError> {
    let mut opener = opener.lock().map_err(|_| SourceError::Camera {
        camera: request.camera.clone(),
        reason: "the camera opener panicked earlier".into(),
    })?;
    opener(request)
}

/// Opens the device again (and reads one frame into `image` to prove it works) until that
/// succeeds or `deadline` passes.
fn reopen_device(
    request: &CameraRequest,
    opener: &Mutex<Opener>,
    deadline: Instant,
    image: &mut RgbImage,
    cause: Option<&SourceError>,
) -> Result<Box<dyn CameraDevice>, SourceError> {
    loop {
        let attempt = open_device(request, opener).and_then(|mut device| {
            device.read_into(image)?;
            Ok(device)
        });
        match attempt {
            Ok(device) => return Ok(device),
            Err(e) if Instant::now() >= deadline => {
                let cause = cause.map_or("stopped answering".to_string(), |c| {
                    format!("stopped delivering frames ({c})")
                });
                return Err(SourceError::Camera {
                    camera: request.camera.clone(),
                    reason: format!("{cause} and did not come back within {:?}: {e}", request.reconnect),
                });
            }
            Err(_) => std::thread::sleep(RETRY_PAUSE.min(request.reconnect)),
        }
    }
}

/// Pause between attempts to reopen a camera.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: &str, name: &str) -> CameraEntry {
        CameraEntry {
            index: index.into(),
            name: name.into(),
            description: String::new(),
        }
    }

    #[test]
    fn cameras_are_found_by_index_or_name() {
        let found = [entry("0", "Integrated Webcam"), entry("2", "Logitech C920")];
        assert_eq!(find("2", &found).unwrap().name, "Logitech C920");
        assert_eq!(find("c920", &found).unwrap().index, "2");
        assert!(find("5", &found).is_none());
        assert!(describe_found(&found).contains("2 \"Logitech C920\""));
        assert!(describe_found(&[]).contains("no cameras"));
    }

    /// A device that delivers `frames` frames, then fails (unplugged) or, when `hangs`, never
    /// returns from a read (a hung driver).
    struct FakeDevice {
        frames: usize,
        hangs: bool,
    }

    fn device(frames: usize, hangs: bool) -> Result<Box<dyn CameraDevice>, SourceError> {
        Ok(Box::new(FakeDevice { frames, hangs }))
    }

    impl CameraDevice for FakeDevice {
        fn describe(&self) -> String {
            if self.hangs { "hanging" } else { "fake" }.into()
        }

        fn fps(&self) -> Option<f64> {
            Some(30.0)
        }

        fn read_into(&mut self, out: &mut image::RgbImage) -> Result<(), SourceError> {
            if self.frames == 0 {
                if self.hangs {
                    loop {
                        std::thread::park();
                    }
                }
                return Err(SourceError::Camera {
                    camera: "fake".into(),
                    reason: "no frame: device unplugged".into(),
                });
            }
            self.frames -= 1;
            *out = image::RgbImage::new(4, 4);
            Ok(())
        }
    }

    fn request(reconnect_ms: u64) -> CameraRequest {
        CameraRequest {
            reconnect: Duration::from_millis(reconnect_ms),
            stall: Duration::from_millis(200),
            ..CameraRequest::default()
        }
    }

    #[test]
    fn an_unplugged_camera_that_comes_back_is_reopened() {
        // Opened once (3 frames), then unplugged: the first reopen fails, the second works.
        let mut opens = 0;
        let opener: Opener = Box::new(move |_| {
            opens += 1;
            match opens {
                1 => device(3, false),
                2 => Err(SourceError::Camera {
                    camera: "0".into(),
                    reason: "not there".into(),
                }),
                _ => device(2, false),
            }
        });
        let mut camera = Camera::with_opener(request(5_000), opener).unwrap();
        let mut frame = Frame::empty();
        for i in 0..5 {
            assert!(camera.next_into(&mut frame).unwrap(), "frame {i}");
            assert_eq!(frame.index, i);
        }
    }

    /// The error of the second frame of a camera whose device delivers one frame, after which
    /// every device, reopened or not, fails or hangs; checks that it came in time.
    fn error_after_one_frame(hangs: bool) -> String {
        let mut opens = 0;
        let opener: Opener = Box::new(move |_| {
            opens += 1;
            device(usize::from(opens == 1), hangs)
        });
        let mut camera = Camera::with_opener(request(300), opener).unwrap();
        let mut frame = Frame::empty();
        assert!(camera.next_into(&mut frame).unwrap());
        let started = Instant::now();
        let err = camera.next_into(&mut frame).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "it gave up in time");
        err
    }

    #[test]
    fn an_unplugged_camera_that_stays_away_ends_the_stream_with_a_message() {
        let err = error_after_one_frame(false);
        assert!(
            err.contains("stopped delivering frames") && err.contains("did not come back"),
            "{err}"
        );
    }

    #[test]
    fn a_camera_that_hangs_is_reopened() {
        // Two frames, then a read that never returns; the second device works.
        let mut opens = 0;
        let opener: Opener = Box::new(move |_| {
            opens += 1;
            if opens == 1 {
                device(2, true)
            } else {
                device(100, false)
            }
        });
        let mut camera = Camera::with_opener(request(2_000), opener).unwrap();
        assert_eq!(camera.describe(), "hanging");
        let mut frame = Frame::empty();
        for i in 0..6 {
            assert!(camera.next_into(&mut frame).unwrap(), "frame {i}");
            assert_eq!(frame.index, i);
            assert_eq!(frame.image.dimensions(), (4, 4));
        }
        assert_eq!(camera.describe(), "fake", "the reopened device describes the stream");
    }

    /// What a window shows while a camera hangs: polls come back in time, saying how long the
    /// camera has been silent and that it is being reopened, until a frame comes again.
    #[test]
    fn polling_a_hanging_camera_says_what_it_is_doing_in_time() {
        let mut opens = 0;
        let opener: Opener = Box::new(move |_| {
            opens += 1;
            if opens == 1 {
                return device(1, true);
            }
            // The reopened device takes a while to come up.
            std::thread::sleep(Duration::from_millis(300));
            device(100, false)
        });
        let mut camera = Camera::with_opener(request(2_000), opener).unwrap();
        let mut frame = Frame::empty();
        assert_eq!(
            camera.poll_into(&mut frame, Duration::from_secs(1)).unwrap(),
            Poll::Frame
        );
        let mut statuses = Vec::new();
        let started = Instant::now();
        loop {
            let asked = Instant::now();
            match camera.poll_into(&mut frame, Duration::from_millis(50)).unwrap() {
                Poll::Waiting(status) => {
                    assert!(
                        asked.elapsed() < Duration::from_millis(500),
                        "a poll took {:?}",
                        asked.elapsed()
                    );
                    statuses.push(status);
                }
                Poll::Frame => break,
                Poll::End => panic!("a camera does not end"),
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no frame after the reopen");
        }
        assert_eq!(frame.index, 1);
        assert!(statuses.len() >= 2, "{statuses:?}");
        assert!(statuses[0].starts_with("camera 0: no frame for 0."), "{statuses:?}");
        assert!(statuses.iter().any(|s| s.ends_with(", reopening it")), "{statuses:?}");
    }

    #[test]
    fn a_camera_that_keeps_hanging_ends_the_stream_with_a_message() {
        let err = error_after_one_frame(true);
        assert!(
            err.starts_with("camera 0: delivered no frame") && err.contains("could not be reopened"),
            "{err}"
        );
    }

    #[test]
    fn a_camera_that_cannot_open_says_why_at_once() {
        let opener: Opener = Box::new(|_| {
            Err(SourceError::Camera {
                camera: "0".into(),
                reason: "no such camera".into(),
            })
        });
        let err = Camera::with_opener(request(5_000), opener).unwrap_err().to_string();
        assert_eq!(err, "camera 0: no such camera");
    }

    #[test]
    #[cfg(feature = "camera")]
    fn without_a_camera_opening_one_says_what_was_found() {
        let found = list().unwrap_or_default();
        if !found.is_empty() {
            eprintln!("a camera is present: the no-camera error is not checked here");
            return;
        }
        let err = Camera::open(CameraRequest::default()).unwrap_err().to_string();
        assert!(
            err.contains("camera 0") && err.contains("no cameras were found"),
            "{err}"
        );
    }
}
