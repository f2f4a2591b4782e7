//! Cameras through nokhwa: listing, opening with a requested format, and decoding each frame
//! (MJPEG, YUYV, NV12, RGB) into the capture thread's buffer.

use image::RgbImage;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};

use super::{CameraEntry, CameraRequest, SourceError, describe_found, find};

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
        let data = buffer.buffer();
        let format = buffer.source_frame_format();
        if format == FrameFormat::MJPEG {
            let decoded = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
                .map_err(|e| error(format!("a corrupt MJPEG frame: {e}")))?;
            *out = decoded.into_rgb8();
            return Ok(());
        }
        if out.dimensions() != (w as u32, h as u32) {
            *out = RgbImage::new(w as u32, h as u32);
        }
        let dst: &mut [u8] = out;
        let ok = match format {
            FrameFormat::YUYV => super::yuyv_to_rgb(data, w, h, dst),
            FrameFormat::NV12 => super::nv12_to_rgb(data, w, h, dst),
            FrameFormat::GRAY if data.len() >= w * h => {
                for (o, &g) in dst.chunks_exact_mut(3).zip(data) {
                    o.fill(g);
                }
                true
            }
            FrameFormat::RAWRGB if data.len() >= w * h * 3 => {
                dst.copy_from_slice(&data[..w * h * 3]);
                true
            }
            FrameFormat::RAWBGR if data.len() >= w * h * 3 => {
                for (o, i) in dst.chunks_exact_mut(3).zip(data.chunks_exact(3)) {
                    o.copy_from_slice(&[i[2], i[1], i[0]]);
                }
                true
            }
            _ => false,
        };
        if !ok {
            return Err(error(format!(
                "a {format} frame of {} bytes does not fit {w}x{h}",
                data.len()
            )));
        }
        Ok(())
    }
}
