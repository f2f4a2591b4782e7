//! Camera pixel formats to RGB: MJPEG, YUYV (YUY2) and NV12 with integer BT.601 arithmetic
//! (limited range), grey, RGB and BGR. A buffer shorter than its frame is refused, never read
//! past; a corrupt MJPEG frame is an error, whatever the decoder does with it.

use image::RgbImage;

/// How a camera delivers a frame's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Motion JPEG: every frame a JPEG image.
    Mjpeg,
    /// YUYV 4:2:2 (YUY2).
    Yuyv,
    /// NV12 4:2:0: a Y plane, then interleaved U and V at half resolution.
    Nv12,
    /// 8-bit grey.
    Gray,
    /// 8-bit RGB.
    Rgb,
    /// 8-bit BGR.
    Bgr,
}

/// Converts one `width`x`height` frame of `format` into `out` (resized when its size differs:
/// the buffer is kept from frame to frame). The error says what did not fit.
pub fn frame_to_rgb(
    format: PixelFormat,
    data: &[u8],
    width: usize,
    height: usize,
    out: &mut RgbImage,
) -> Result<(), String> {
    if format == PixelFormat::Mjpeg {
        let decoded = scn_train::contain::catching_panics("the JPEG decoder", || {
            image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
        })?
        .map_err(|e| format!("a corrupt MJPEG frame: {e}"))?;
        *out = decoded.into_rgb8();
        return Ok(());
    }
    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(format!("a {width}x{height} frame is too large"));
    };
    let pixels = width.checked_mul(height).filter(|p| p.checked_mul(3).is_some());
    let Some(pixels) = pixels else {
        return Err(format!("a {width}x{height} frame is too large"));
    };
    // The frame must fit its buffer before anything is allocated for it.
    let needed = match format {
        PixelFormat::Yuyv => pixels * 2,
        PixelFormat::Nv12 => pixels + pixels / 2,
        PixelFormat::Gray => pixels,
        PixelFormat::Rgb | PixelFormat::Bgr => pixels * 3,
        PixelFormat::Mjpeg => 0, // decoded above
    };
    if data.len() < needed {
        return Err(format!(
            "a {format:?} frame of {} bytes does not fit {width}x{height} (needs {needed})",
            data.len()
        ));
    }
    if out.dimensions() != (w, h) {
        *out = RgbImage::new(w, h);
    }
    let dst: &mut [u8] = out;
    match format {
        PixelFormat::Yuyv => {
            yuyv_to_rgb(data, width, height, dst);
        }
        PixelFormat::Nv12 => {
            nv12_to_rgb(data, width, height, dst);
        }
        PixelFormat::Gray => {
            for (o, &g) in dst.chunks_exact_mut(3).zip(data) {
                o.fill(g);
            }
        }
        PixelFormat::Rgb => dst.copy_from_slice(&data[..pixels * 3]),
        PixelFormat::Bgr => {
            for (o, i) in dst.chunks_exact_mut(3).zip(data.chunks_exact(3)) {
                o.copy_from_slice(&[i[2], i[1], i[0]]);
            }
        }
        PixelFormat::Mjpeg => {} // decoded above
    }
    Ok(())
}

/// Converts one YUYV (YUY2) frame to RGB (BT.601, limited range).
pub fn yuyv_to_rgb(data: &[u8], width: usize, height: usize, out: &mut [u8]) -> bool {
    if data.len() < width * height * 2 || out.len() < width * height * 3 {
        return false;
    }
    for (i, quad) in data[..width * height * 2].chunks_exact(4).enumerate() {
        let (y0, u, y1, v) = (quad[0], quad[1], quad[2], quad[3]);
        let o = i * 6;
        out[o..o + 3].copy_from_slice(&yuv_to_rgb(y0, u, v));
        out[o + 3..o + 6].copy_from_slice(&yuv_to_rgb(y1, u, v));
    }
    true
}

/// Converts one NV12 frame (Y plane, then interleaved UV at half resolution) to RGB.
pub fn nv12_to_rgb(data: &[u8], width: usize, height: usize, out: &mut [u8]) -> bool {
    let plane = width * height;
    if data.len() < plane + plane / 2 || out.len() < plane * 3 {
        return false;
    }
    let (ys, uv) = data.split_at(plane);
    for y in 0..height {
        for x in 0..width {
            let c = (y / 2) * width + (x / 2) * 2;
            let (u, v) = (uv.get(c).copied().unwrap_or(128), uv.get(c + 1).copied().unwrap_or(128));
            let o = (y * width + x) * 3;
            out[o..o + 3].copy_from_slice(&yuv_to_rgb(ys[y * width + x], u, v));
        }
    }
    true
}

fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let (d, e) = (i32::from(u) - 128, i32::from(v) - 128);
    let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [clip(c + 409 * e), clip(c - 100 * d - 208 * e), clip(c + 516 * d)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuv_frames_convert_to_rgb() {
        // Black, white and mid grey in limited range; a saturated red.
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        let red = yuv_to_rgb(81, 90, 240);
        assert!(red[0] > 250 && red[1] < 5 && red[2] < 5, "{red:?}");
        let mut out = vec![0u8; 2 * 2 * 3];
        assert!(yuyv_to_rgb(&[235, 128, 16, 128, 235, 128, 16, 128], 2, 2, &mut out));
        assert_eq!(&out[..6], &[255, 255, 255, 0, 0, 0]);
        assert!(!yuyv_to_rgb(&[0; 3], 2, 2, &mut out), "a short frame is refused");
        let mut out = vec![0u8; 2 * 2 * 3];
        assert!(nv12_to_rgb(&[235, 16, 16, 235, 128, 128], 2, 2, &mut out));
        assert_eq!(&out[..6], &[255, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn frames_of_every_format_convert_and_short_or_huge_frames_are_refused() {
        let mut out = RgbImage::new(1, 1);
        frame_to_rgb(PixelFormat::Bgr, &[1, 2, 3, 4, 5, 6], 2, 1, &mut out).unwrap();
        assert_eq!(out.as_raw(), &[3, 2, 1, 6, 5, 4], "BGR swapped, the buffer resized");
        frame_to_rgb(PixelFormat::Gray, &[9, 7], 2, 1, &mut out).unwrap();
        assert_eq!(out.as_raw(), &[9, 9, 9, 7, 7, 7]);
        for format in [
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Gray,
            PixelFormat::Rgb,
            PixelFormat::Bgr,
        ] {
            let err = frame_to_rgb(format, &[0; 5], 4, 4, &mut out).unwrap_err();
            assert!(err.contains("5 bytes does not fit 4x4"), "{err}");
            // A size no buffer can hold is refused before anything is allocated for it.
            assert!(frame_to_rgb(format, &[0; 5], usize::MAX / 2, 3, &mut out).is_err());
            assert!(frame_to_rgb(format, &[0; 5], 1 << 20, 1 << 20, &mut out).is_err());
        }
        let err = frame_to_rgb(PixelFormat::Mjpeg, &[0xff, 0xd8, 0xff, 0], 4, 4, &mut out).unwrap_err();
        assert!(err.contains("corrupt MJPEG"), "{err}");
    }
}
