//! Video files, decoded by the `ffmpeg` program (any container and codec it knows: MP4/H.264,
//! MOV/HEVC, WebM, AVI, ...). ffmpeg is an external program, not a library: scn builds without
//! it and only needs it on the PATH to read videos (`apt install ffmpeg`, `brew install
//! ffmpeg`, `winget install ffmpeg`). `ffprobe` reads the size and frame rate; `ffmpeg`
//! streams raw RGB frames through a pipe, so memory stays at one frame.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::{Frame, FrameSource, SourceError};

/// What ffprobe says about a video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second (None where the container does not say).
    pub fps: Option<f64>,
    /// Frame count, where the container records it.
    pub frames: Option<u64>,
}

fn program_error(program: &str, e: std::io::Error) -> SourceError {
    let reason = if e.kind() == std::io::ErrorKind::NotFound {
        "not found on the PATH; scn reads video files through ffmpeg: install it (apt install ffmpeg, \
         brew install ffmpeg, winget install ffmpeg) or pass the frames as images"
            .to_string()
    } else {
        format!("cannot start it: {e}")
    };
    SourceError::Program {
        program: program.into(),
        reason,
    }
}

/// Parses "30000/1001" or "25".
fn parse_rate(rate: &str) -> Option<f64> {
    let (num, den) = rate.split_once('/').unwrap_or((rate, "1"));
    let (num, den): (f64, f64) = (num.trim().parse().ok()?, den.trim().parse().ok()?);
    (num > 0.0 && den > 0.0).then(|| num / den)
}

/// Reads the first video stream's size and rate with ffprobe.
pub fn probe(path: &Path) -> Result<VideoInfo, SourceError> {
    if !path.is_file() {
        return Err(SourceError::File {
            path: path.to_path_buf(),
            reason: "no such video file".into(),
        });
    }
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=width,height,avg_frame_rate,r_frame_rate,nb_frames")
        .args(["-of", "json"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| program_error("ffprobe", e))?;
    let file_error = |reason: String| SourceError::File {
        path: path.to_path_buf(),
        reason,
    };
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(file_error(format!("not a video ffmpeg can read: {said}")));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| file_error(format!("unexpected ffprobe output: {e}")))?;
    let stream = json
        .get("streams")
        .and_then(|s| s.get(0))
        .ok_or_else(|| file_error("no video stream in this file".into()))?;
    let dim = |k: &str| stream.get(k).and_then(|v| v.as_u64()).filter(|&v| v > 0 && v < 1 << 15);
    let (Some(width), Some(height)) = (dim("width"), dim("height")) else {
        return Err(file_error("the video stream has no frame size".into()));
    };
    let rate = |k: &str| stream.get(k).and_then(|v| v.as_str()).and_then(parse_rate);
    Ok(VideoInfo {
        width: width as u32,
        height: height as u32,
        fps: rate("avg_frame_rate").or_else(|| rate("r_frame_rate")),
        frames: stream
            .get("nb_frames")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok()),
    })
}

/// A video file, decoded frame by frame by ffmpeg.
#[derive(Debug)]
pub struct VideoFile {
    path: PathBuf,
    info: VideoInfo,
    child: Child,
    stdout: BufReader<ChildStdout>,
    next: u64,
    done: bool,
    looping: bool,
    loops: u64,
}

/// Starts ffmpeg decoding `path` to raw RGB frames on its stdout.
fn spawn_decoder(path: &Path) -> Result<(Child, BufReader<ChildStdout>), SourceError> {
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        // Every decoded frame once: no duplicates or drops to reach a constant rate.
        .args(["-map", "0:v:0", "-vsync", "passthrough"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| program_error("ffmpeg", e))?;
    let stdout = child.stdout.take().ok_or_else(|| SourceError::Program {
        program: "ffmpeg".into(),
        reason: "no output pipe".into(),
    })?;
    Ok((child, BufReader::with_capacity(1 << 20, stdout)))
}

impl VideoFile {
    /// Opens a video (ffprobe, then an ffmpeg decoding process).
    pub fn open(path: &Path) -> Result<VideoFile, SourceError> {
        let info = probe(path)?;
        let (child, stdout) = spawn_decoder(path)?;
        Ok(VideoFile {
            path: path.to_path_buf(),
            info,
            child,
            stdout,
            next: 0,
            done: false,
            looping: false,
            loops: 0,
        })
    }

    /// Plays the video again from the start each time it ends (demos, soak tests); frame
    /// indices and times keep counting up. A video that ends with an error, or before its first
    /// frame, still ends the stream.
    pub fn looping(mut self, on: bool) -> VideoFile {
        self.looping = on;
        self
    }

    /// How many times a looping video has started again.
    pub fn loops(&self) -> u64 {
        self.loops
    }

    /// Size, rate and length.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Ends the stream; reports ffmpeg's error if it failed.
    fn finish(&mut self, partial: bool) -> Result<bool, SourceError> {
        self.done = true;
        let status = self.child.wait().map_err(|e| program_error("ffmpeg", e))?;
        let mut said = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut said);
        }
        if !status.success() || partial {
            return Err(SourceError::File {
                path: self.path.clone(),
                reason: format!(
                    "decoding stopped after {} frames{}: {}",
                    self.next,
                    if partial { " (a truncated frame)" } else { "" },
                    said.trim()
                ),
            });
        }
        Ok(false)
    }

    /// Starts decoding from the beginning again; false where the video had no frame at all.
    fn restart(&mut self) -> Result<bool, SourceError> {
        if self.next == 0 {
            return Ok(false);
        }
        let (child, stdout) = spawn_decoder(&self.path)?;
        self.child = child;
        self.stdout = stdout;
        self.done = false;
        self.loops += 1;
        Ok(true)
    }
}

impl FrameSource for VideoFile {
    fn describe(&self) -> String {
        let fps = self.info.fps.map(|f| format!(", {f:.3} fps")).unwrap_or_default();
        format!(
            "video {} ({}x{}{fps})",
            self.path.display(),
            self.info.width,
            self.info.height
        )
    }

    fn fps(&self) -> Option<f64> {
        self.info.fps
    }

    fn next_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        if self.done {
            return Ok(false);
        }
        let (w, h) = (self.info.width, self.info.height);
        if frame.image.dimensions() != (w, h) {
            frame.image = image::RgbImage::new(w, h);
        }
        let buf: &mut [u8] = &mut frame.image;
        let mut filled = 0;
        while filled < buf.len() {
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => {
                    let ended = self.finish(filled > 0)?;
                    if self.looping && filled == 0 && self.restart()? {
                        continue;
                    }
                    return Ok(ended);
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(SourceError::Io {
                        path: self.path.clone(),
                        doing: "cannot read the frames ffmpeg decodes",
                        source,
                    });
                }
            }
        }
        frame.index = self.next;
        frame.time = self.info.fps.map(|f| self.next as f64 / f).unwrap_or(0.0);
        frame.path = None;
        self.next += 1;
        Ok(true)
    }
}

impl Drop for VideoFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether ffmpeg and ffprobe can be started.
pub fn ffmpeg_available() -> bool {
    ["ffmpeg", "ffprobe"].iter().all(|p| {
        Command::new(p)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_parse_as_ffprobe_writes_them() {
        assert_eq!(parse_rate("25/1"), Some(25.0));
        assert!((parse_rate("30000/1001").unwrap() - 29.97).abs() < 0.01);
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("30"), Some(30.0));
    }

    #[test]
    fn missing_and_broken_videos_are_named() {
        let err = VideoFile::open(Path::new("/nonexistent/clip.mp4"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/clip.mp4"), "{err}");
        if !ffmpeg_available() {
            eprintln!("ffmpeg not installed: broken-video check skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.mp4");
        std::fs::write(&bad, b"this is not a video").unwrap();
        let err = VideoFile::open(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.mp4") && err.contains("not a video"), "{err}");
    }
}
