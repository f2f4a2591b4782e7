//! A small raster canvas: rectangles, lines and text (DejaVu Sans Mono through ab_glyph) on a
//! `0RGB` `u32` buffer, the pixel format minifb windows show. The training plots and the live
//! overlay both draw with it; `save_png` writes it out.

use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

/// The embedded font (DejaVu Sans Mono, Bitstream Vera licence: assets/fonts/LICENSE-DejaVu.txt).
const FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSansMono.ttf");

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// White.
    pub const WHITE: Rgb = Rgb(255, 255, 255);
    /// Black.
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    /// Light grey for grids.
    pub const GRID: Rgb = Rgb(225, 225, 225);
    /// Dark grey for text and axes.
    pub const INK: Rgb = Rgb(40, 40, 40);

    /// A colour of a categorical palette (colour-blind friendly, Okabe-Ito).
    pub fn palette(i: usize) -> Rgb {
        const P: [Rgb; 8] = [
            Rgb(0, 114, 178),
            Rgb(213, 94, 0),
            Rgb(0, 158, 115),
            Rgb(204, 121, 167),
            Rgb(230, 159, 0),
            Rgb(86, 180, 233),
            Rgb(120, 120, 120),
            Rgb(240, 228, 66),
        ];
        P[i % P.len()]
    }

    fn packed(self) -> u32 {
        (u32::from(self.0) << 16) | (u32::from(self.1) << 8) | u32::from(self.2)
    }

    fn blend(self, under: u32, alpha: f32) -> u32 {
        let mix = |a: u8, b: u32| (f32::from(a) * alpha + b as f32 * (1.0 - alpha)).round() as u32;
        (mix(self.0, (under >> 16) & 255) << 16) | (mix(self.1, (under >> 8) & 255) << 8) | mix(self.2, under & 255)
    }
}

/// A pixel buffer.
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `0RGB` pixels, row-major.
    pub pixels: Vec<u32>,
    font: FontRef<'static>,
}

impl Canvas {
    /// A canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: Rgb) -> Canvas {
        let font = FontRef::try_from_slice(FONT_BYTES).expect("the embedded font parses");
        Canvas {
            width,
            height,
            pixels: vec![background.packed(); width * height],
            font,
        }
    }

    /// Replaces the canvas's content with an RGB image (resizing the buffer only when the
    /// size changes).
    pub fn load_rgb(&mut self, image: &image::RgbImage) {
        let (w, h) = (image.width() as usize, image.height() as usize);
        if (self.width, self.height) != (w, h) {
            self.width = w;
            self.height = h;
            self.pixels.resize(w * h, 0);
        }
        for (dst, p) in self.pixels.iter_mut().zip(image.as_raw().chunks_exact(3)) {
            *dst = (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]);
        }
    }

    /// Sets one pixel, blended with what is there (`alpha` in 0..=1); outside is ignored.
    pub fn blend(&mut self, x: i64, y: i64, color: Rgb, alpha: f32) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let i = y as usize * self.width + x as usize;
        self.pixels[i] = if alpha >= 1.0 {
            color.packed()
        } else {
            color.blend(self.pixels[i], alpha.max(0.0))
        };
    }

    /// Fills a rectangle.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, color: Rgb, alpha: f32) {
        for yy in y.max(0)..(y + h).min(self.height as i64) {
            for xx in x.max(0)..(x + w).min(self.width as i64) {
                self.blend(xx, yy, color, alpha);
            }
        }
    }

    /// Draws a rectangle's outline `thickness` pixels wide.
    pub fn stroke_rect(&mut self, x: i64, y: i64, w: i64, h: i64, thickness: i64, color: Rgb) {
        self.fill_rect(x, y, w, thickness, color, 1.0);
        self.fill_rect(x, y + h - thickness, w, thickness, color, 1.0);
        self.fill_rect(x, y, thickness, h, color, 1.0);
        self.fill_rect(x + w - thickness, y, thickness, h, color, 1.0);
    }

    /// Draws a line `width` pixels wide (anti-aliased by sampling the distance to the segment).
    pub fn line(&mut self, (x0, y0): (f32, f32), (x1, y1): (f32, f32), width: f32, color: Rgb) {
        let r = width / 2.0;
        let (minx, maxx) = (
            (x0.min(x1) - r - 1.0).floor() as i64,
            (x0.max(x1) + r + 1.0).ceil() as i64,
        );
        let (miny, maxy) = (
            (y0.min(y1) - r - 1.0).floor() as i64,
            (y0.max(y1) + r + 1.0).ceil() as i64,
        );
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        for y in miny..=maxy {
            for x in minx..=maxx {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0);
                let (cx, cy) = (x0 + t * dx, y0 + t * dy);
                let d = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
                let a = (r + 0.5 - d).clamp(0.0, 1.0);
                if a > 0.0 {
                    self.blend(x, y, color, a);
                }
            }
        }
    }

    /// Width in pixels of `text` at `size` pixels.
    pub fn text_width(&self, text: &str, size: f32) -> f32 {
        let font = self.font.as_scaled(PxScale::from(size));
        text.chars().map(|c| font.h_advance(font.glyph_id(c))).sum()
    }

    /// Draws `text` with its top-left corner at (x, y), `size` pixels high.
    pub fn text(&mut self, x: f32, y: f32, text: &str, size: f32, color: Rgb) {
        let scale = PxScale::from(size);
        let font = self.font.clone();
        let scaled = font.as_scaled(scale);
        let ascent = scaled.ascent();
        let mut caret = x;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, ab_glyph::point(caret, y + ascent));
            caret += scaled.h_advance(id);
            if let Some(outlined) = font.outline_glyph(glyph) {
                let bounds = outlined.px_bounds();
                let mut hits = Vec::new();
                outlined.draw(|gx, gy, coverage| hits.push((gx, gy, coverage)));
                for (gx, gy, coverage) in hits {
                    self.blend(
                        bounds.min.x as i64 + gx as i64,
                        bounds.min.y as i64 + gy as i64,
                        color,
                        coverage,
                    );
                }
            }
        }
    }

    /// The canvas as an RGB image.
    pub fn to_image(&self) -> image::RgbImage {
        image::RgbImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let p = self.pixels[y as usize * self.width + x as usize];
            image::Rgb([(p >> 16) as u8, (p >> 8) as u8, p as u8])
        })
    }

    /// Writes the canvas as a PNG, through a temporary file renamed into place: a full disk or a
    /// crash never leaves half a picture. Errors name the file.
    pub fn save_png(&self, path: &Path) -> scn_train::Result<()> {
        let mut png = std::io::Cursor::new(Vec::new());
        self.to_image()
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(|e| {
                scn_train::Error::InvalidArgument(format!("{}: cannot encode the PNG: {e}", path.display()))
            })?;
        scn_train::fsutil::write_bytes(path, png.get_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shot.png");
        let c = Canvas::new(8, 4, Rgb::WHITE);
        c.save_png(&path).unwrap();
        assert_eq!(image::open(&path).unwrap().width(), 8);
        // A folder that cannot exist (under a file): the error names the file, nothing is left.
        let blocked = path.join("inside.png");
        let err = scn_train::error::report(&c.save_png(&blocked).unwrap_err());
        assert!(err.contains("shot.png"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the first picture"
        );
    }

    #[test]
    fn shapes_and_text_change_pixels_where_expected() {
        let mut c = Canvas::new(100, 40, Rgb::WHITE);
        c.fill_rect(0, 0, 10, 10, Rgb::BLACK, 1.0);
        assert_eq!(c.pixels[5 * 100 + 5], 0);
        c.line((20.0, 20.0), (90.0, 20.0), 2.0, Rgb(255, 0, 0));
        assert_eq!(c.pixels[20 * 100 + 50], 0xFF0000);
        let before = c.pixels.clone();
        c.text(20.0, 25.0, "Hi", 12.0, Rgb::BLACK);
        let changed = c.pixels.iter().zip(&before).filter(|(a, b)| a != b).count();
        assert!(changed > 10, "{changed}");
        assert!(c.text_width("Hi", 12.0) > 10.0);
        c.blend(-1, 500, Rgb::BLACK, 1.0); // outside: ignored
    }
}
