//! Camera pixel formats to RGB: YUYV (YUY2) and NV12 with integer BT.601 arithmetic
//! (limited range). A buffer shorter than its frame is refused, never read past.

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
}
