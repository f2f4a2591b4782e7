//! What the live window shows on each frame: per face a box coloured by expression, its track
//! id, expression, probability and SCN's attention certainty, a bar chart of the class
//! probabilities beside it, the five landmarks, and a status line with the frame rate and the
//! milliseconds of each stage.

use crate::draw::{Canvas, Rgb};
use crate::live::FrameResult;

/// Colour of a class (the same for a class in every frame).
pub fn class_color(class: usize) -> Rgb {
    Rgb::palette(class)
}

/// Draws the annotations of `result` on `canvas` (which holds the frame).
pub fn draw(canvas: &mut Canvas, result: &FrameResult, classes: &[String], fps: Option<f64>, paused: bool) {
    let scale = (canvas.width.min(canvas.height) as f32 / 480.0).clamp(0.6, 2.5);
    let text = 13.0 * scale;
    for face in &result.faces {
        let class = classes.iter().position(|c| *c == face.expression).unwrap_or(0);
        let color = class_color(class);
        let [x1, y1, x2, y2] = face.bbox;
        let thickness = (2.0 * scale).round().max(1.0) as i64;
        canvas.stroke_rect(
            x1 as i64,
            y1 as i64,
            (x2 - x1) as i64,
            (y2 - y1) as i64,
            thickness,
            color,
        );
        for [x, y] in face.landmarks {
            canvas.fill_rect(x as i64 - 1, y as i64 - 1, 3, 3, color, 0.9);
        }
        // Label above the box (inside it when the box touches the top).
        let certainty = face
            .certainty
            .map(|c| format!("  sure {:.0}%", c * 100.0))
            .or_else(|| face.alpha.map(|a| format!("  a {a:.2}")))
            .unwrap_or_default();
        let label = format!(
            "#{} {} {:.0}%{certainty}",
            face.id,
            face.expression,
            face.probability * 100.0
        );
        let lw = canvas.text_width(&label, text) + 8.0;
        let lh = text + 6.0;
        let ly = if y1 - lh >= 0.0 { y1 - lh } else { y1 };
        canvas.fill_rect(x1 as i64, ly as i64, lw as i64, lh as i64, color, 0.85);
        canvas.text(x1 + 4.0, ly + 2.0, &label, text, Rgb::WHITE);
        draw_bars(canvas, face.probabilities.as_slice(), classes, (x1, x2, y1), scale);
    }
    // Status line.
    let fps = fps.map(|f| format!("{f:.1} fps  ")).unwrap_or_default();
    let status = format!(
        "{fps}detect {:.1} ms  align {:.1} ms  classify {:.1} ms  faces {}{}",
        result.ms.detect,
        result.ms.align,
        result.ms.classify,
        result.faces.len(),
        if paused { "  [paused]" } else { "" }
    );
    let sh = text + 8.0;
    let sw = canvas.text_width(&status, text) + 10.0;
    canvas.fill_rect(0, 0, sw as i64, sh as i64, Rgb::BLACK, 0.6);
    canvas.text(5.0, 4.0, &status, text, Rgb::WHITE);
}

/// A bar per class beside the face box (right of it, or left where the frame ends).
fn draw_bars(
    canvas: &mut Canvas,
    probabilities: &[f32],
    classes: &[String],
    (x1, x2, y1): (f32, f32, f32),
    scale: f32,
) {
    let text = 10.0 * scale;
    let row = text + 3.0;
    let name_w = classes
        .iter()
        .map(|c| canvas.text_width(c, text))
        .fold(0.0f32, f32::max);
    let bar_w = 60.0 * scale;
    let panel_w = name_w + bar_w + 12.0;
    let panel_h = row * probabilities.len() as f32 + 6.0;
    let x = if x2 + 6.0 + panel_w <= canvas.width as f32 {
        x2 + 6.0
    } else {
        (x1 - 6.0 - panel_w).max(0.0)
    };
    let y = y1.max(0.0).min((canvas.height as f32 - panel_h).max(0.0));
    canvas.fill_rect(x as i64, y as i64, panel_w as i64, panel_h as i64, Rgb::BLACK, 0.55);
    for (i, (p, name)) in probabilities.iter().zip(classes).enumerate() {
        let ry = y + 3.0 + i as f32 * row;
        canvas.text(x + 4.0, ry, name, text, Rgb::WHITE);
        let bx = x + 8.0 + name_w;
        canvas.fill_rect(
            bx as i64,
            (ry + 2.0) as i64,
            (bar_w * p.clamp(0.0, 1.0)) as i64,
            (text - 1.0) as i64,
            class_color(i),
            1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{FaceResult, StageTimes};

    #[test]
    fn a_face_gets_a_box_in_its_class_colour_a_label_and_bars() {
        let mut canvas = Canvas::new(320, 240, Rgb(90, 90, 90));
        let classes: Vec<String> = ["neutral", "happiness"].iter().map(|s| s.to_string()).collect();
        let result = FrameResult {
            faces: vec![FaceResult {
                id: 1,
                bbox: [100.0, 80.0, 180.0, 170.0],
                score: 0.99,
                landmarks: [
                    [120.0, 110.0],
                    [160.0, 110.0],
                    [140.0, 130.0],
                    [125.0, 150.0],
                    [155.0, 150.0],
                ],
                expression: "happiness".into(),
                probability: 0.8,
                probabilities: vec![0.2, 0.8],
                alpha: Some(0.7),
                certainty: Some(0.4),
            }],
            full_detection: true,
            ms: StageTimes::default(),
        };
        draw(&mut canvas, &result, &classes, Some(30.0), false);
        let at = |x: usize, y: usize| canvas.pixels[y * canvas.width + x];
        let happy = class_color(1);
        let packed = (u32::from(happy.0) << 16) | (u32::from(happy.1) << 8) | u32::from(happy.2);
        assert_eq!(at(100, 120), packed, "the box's left edge");
        assert_eq!(at(140, 169), packed, "the box's bottom edge (1 px at this size)");
        // The bar of "happiness" (0.8) is longer than the one of "neutral" (0.2).
        let count = |color: Rgb| {
            let p = (u32::from(color.0) << 16) | (u32::from(color.1) << 8) | u32::from(color.2);
            canvas.pixels[..]
                .iter()
                .enumerate()
                .filter(|(i, v)| **v == p && i % canvas.width > 185)
                .count()
        };
        assert!(count(happy) > 2 * count(class_color(0)));
        // The status line darkens the top-left corner.
        assert!(at(2, 2) != (90 << 16 | 90 << 8 | 90));
    }
}
