//! Cameras through nokhwa: listing, opening with a requested format, and decoding each frame
//! (MJPEG, YUYV, NV12, RGB) into the capture thread's buffer.

use image::RgbImage;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};

use super::{CameraEntry, CameraRequest, PixelFormat, SourceError, describe_found, find};

fn index_string(index: &CameraIndex) -> String {
    match index {
        CameraIndex::Index(i) => i.to_string(),
        CameraIndex::String(s) => s.clone(),
    }
}

pub fn list() -> Result<Vec<CameraEntry>, SourceError> {
    let found = nokhwa::query(ApiBackend::Auto).map_err(|e| SourceError::Camera {
        camera: "(query)".into(),
        reason: format!("cannot list the cameras: {e}"),
    })?;
    Ok(found
        .iter()
        .map(|c| CameraEntry {
            index: index_string(c.index()),
            name: c.human_name(),
            description: c.description().to_string(),
        })
        .collect())
}

pub struct Inner {
    camera: nokhwa::Camera,
    name: String,
}

impl super::CameraDevice for Inner {
    fn describe(&self) -> String {
        Inner::describe(self)
    }

    fn fps(&self) -> Option<f64> {
        Inner::fps(self)
    }

    fn read_into(&mut self, out: &mut RgbImage) -> Result<(), SourceError> {
        Inner::read_into(self, out)
    }
}

impl Inner {
    pub fn open(request: &CameraRequest) -> Result<Inner, SourceError> {
        let error = |reason: String| SourceError::Camera {
            camera: request.camera.clone(),
            reason,
        };
        let found = list()?;
        let entry = find(&request.camera, &found)
            .ok_or_else(|| error(format!("no such camera; {}", describe_found(&found))))?;
        let index = match entry.index.parse::<u32>() {
            Ok(i) => CameraIndex::Index(i),
            Err(_) => CameraIndex::String(entry.index.clone()),
        };
        let wanted = match (request.resolution, request.fps) {
            (Some((w, h)), fps) => RequestedFormatType::Closest(CameraFormat::new(
                Resolution::new(w, h),
                FrameFormat::MJPEG,
                fps.unwrap_or(30),
            )),
            (None, Some(fps)) => RequestedFormatType::HighestFrameRate(fps),
            (None, None) => RequestedFormatType::AbsoluteHighestFrameRate,
        };
        let format = RequestedFormat::new::<RgbFormat>(wanted);
        let mut camera =
            nokhwa::Camera::new(index, format).map_err(|e| error(format!("cannot open \"{}\": {e}", entry.name)))?;
        camera
            .open_stream()
            .map_err(|e| error(format!("cannot start \"{}\": {e}", entry.name)))?;
        Ok(Inner {
            camera,
            name: entry.name.clone(),
        })
    }

    pub fn describe(&self) -> String {
        let f = self.camera.camera_format();
        format!(
            "camera \"{}\" ({}x{}, {} fps, {})",
            self.name,
            f.resolution().width(),
            f.resolution().height(),
            f.frame_rate(),
            f.format()
        )
    }

    pub fn fps(&self) -> Option<f64> {
        Some(f64::from(self.camera.frame_rate()))
    }

    pub fn read_into(&mut self, out: &mut RgbImage) -> Result<(), SourceError> {
        let error = |reason: String| SourceError::Camera {
            camera: self.name.clone(),
            reason,
        };
        let buffer = self.camera.frame().map_err(|e| error(format!("no frame: {e}")))?;
        let res = buffer.resolution();
        let (w, h) = (res.width() as usize, res.height() as usize);
        let format = match buffer.source_frame_format() {
            FrameFormat::MJPEG => PixelFormat::Mjpeg,
            FrameFormat::YUYV => PixelFormat::Yuyv,
            FrameFormat::NV12 => PixelFormat::Nv12,
            FrameFormat::GRAY => PixelFormat::Gray,
            FrameFormat::RAWRGB => PixelFormat::Rgb,
            FrameFormat::RAWBGR => PixelFormat::Bgr,
        };
        super::frame_to_rgb(format, buffer.buffer(), w, h, out).map_err(error)
    }
}
