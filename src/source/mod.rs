//! Where frames come from: a camera, a video file or image files, behind one interface, so
//! that everything the live recognizer does can be tested and shown without a camera.

pub mod camera;
pub mod images;
pub mod video;

use std::path::PathBuf;

use image::RgbImage;

/// One frame of a stream.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The pixels (RGB).
    pub image: RgbImage,
    /// Position in the stream, from 0.
    pub index: u64,
    /// Seconds since the stream started (the video's timestamp, or the capture time).
    pub time: f64,
    /// The file it came from, for image sources.
    pub path: Option<PathBuf>,
}

impl Frame {
    /// An empty frame, to be filled by [`FrameSource::next_into`].
    pub fn empty() -> Frame {
        Frame {
            image: RgbImage::new(0, 0),
            index: 0,
            time: 0.0,
            path: None,
        }
    }
}

/// Errors of frame sources.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file could not be read.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Reading a file or folder failed; the operating system's error is the source.
    #[error("{}: {doing}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done ("cannot list the folder").
        doing: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An external program the source needs is missing or failed.
    #[error("{program}: {reason}")]
    Program {
        /// The program.
        program: String,
        /// What went wrong, and how to fix it.
        reason: String,
    },
    /// The camera could not be found, opened or read.
    #[error("camera {camera}: {reason}")]
    Camera {
        /// Which camera.
        camera: String,
        /// What went wrong.
        reason: String,
    },
    /// This build has no camera support.
    #[error(
        "this scn was built without camera support (the `camera` feature); rebuild with it, or use --video / --images"
    )]
    NoCameraSupport,
}

/// What [`FrameSource::poll_into`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// A frame, now in the caller's [`Frame`].
    Frame,
    /// No frame yet, and what the source is doing about it ("camera 0: no frame for 2.1 s,
    /// reopening it").
    Waiting(String),
    /// The end of the stream.
    End,
}

/// A stream of frames.
pub trait FrameSource {
    /// What the stream is, for messages ("video clip.mp4 (640x360, 25 fps)").
    fn describe(&self) -> String;

    /// The stream's nominal frame rate, where it has one.
    fn fps(&self) -> Option<f64>;

    /// Reads the next frame into `frame`, reusing its buffer where the size allows. Returns
    /// false at the end of the stream.
    fn next_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError>;

    /// As [`FrameSource::next_into`], but gives up after about `timeout` without a frame and
    /// says why ([`Poll::Waiting`]), so that a window stays responsive while a camera hangs or
    /// reconnects. Files never wait: the default reads the next frame.
    fn poll_into(&mut self, frame: &mut Frame, timeout: std::time::Duration) -> Result<Poll, SourceError> {
        let _ = timeout;
        Ok(if self.next_into(frame)? { Poll::Frame } else { Poll::End })
    }

    /// Frames the stream could not deliver and left out (images that do not decode), so far.
    fn skipped(&self) -> usize {
        0
    }
}
