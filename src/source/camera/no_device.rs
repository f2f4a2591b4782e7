//! A build without the `camera` feature: every camera call says so.

use image::RgbImage;

use super::{CameraEntry, CameraRequest, SourceError};

pub fn list() -> Result<Vec<CameraEntry>, SourceError> {
    Err(SourceError::NoCameraSupport)
}

pub struct Inner;

impl super::CameraDevice for Inner {
    fn describe(&self) -> String {
        String::new()
    }

    fn fps(&self) -> Option<f64> {
        None
    }

    fn read_into(&mut self, _: &mut RgbImage) -> Result<(), SourceError> {
        Err(SourceError::NoCameraSupport)
    }
}

impl Inner {
    pub fn open(_: &CameraRequest) -> Result<Inner, SourceError> {
        Err(SourceError::NoCameraSupport)
    }
}
