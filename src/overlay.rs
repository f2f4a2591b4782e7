//! What the live window shows on each frame: per face a box coloured by expression, its track
//! id, expression, probability and SCN's attention certainty, a bar chart of the class
//! probabilities beside it, the five landmarks, and a status line with the frame rate and the
//! milliseconds of each stage.

use crate::draw::{Canvas, Rgb};
use crate::recognizer::FrameResult;

/// Colour of a class (the same for a class in every frame).
pub fn class_color(class: usize) -> Rgb {
    Rgb::palette(class)
}

/// Draws the annotations of `result` on `canvas` (which holds the frame).
pub fn draw(canvas: &mut Canvas, result: &FrameResult, classes: &[String], fps: Option<f64>, paused: bool) {
    let scale = (canvas.width.min(canvas.height) as f32 / 480.0).clamp(0.6, 2.5);
    let text = 13.0 * scale;
    let bars = BarPanel::measure(canvas, classes, scale);
    let lh = text + 6.0;
    // Each face's label goes above its box where there is room (see `place_labels`).
    let texts: Vec<String> = result
        .faces
        .iter()
        .map(|face| {
            let certainty = face
                .certainty
                .map(|c| format!("  sure {:.0}%", c * 100.0))
                .or_else(|| face.alpha.map(|a| format!("  a {a:.2}")))
                .unwrap_or_default();
            format!(
                "#{} {} {:.0}%{certainty}",
                face.id,
                face.expression,
                face.probability * 100.0
            )
        })
        .collect();
    let boxes: Vec<[f32; 4]> = result.faces.iter().map(|face| face.bbox).collect();
    let sizes: Vec<(f32, f32)> = texts
        .iter()
        .map(|label| (canvas.text_width(label, text) + 8.0, lh))
        .collect();
    let rects = place_labels(&boxes, &sizes, (canvas.width as f32, canvas.height as f32));
    let labels: Vec<(String, [f32; 4])> = texts.into_iter().zip(rects).collect();
    // Panels keep clear of every box and label.
    let obstacles: Vec<[f32; 4]> = result
        .faces
        .iter()
        .map(|face| face.bbox)
        .chain(labels.iter().map(|(_, rect)| *rect))
        .collect();
    let places = place_panels(
        result.faces.len(),
        &obstacles,
        (bars.width, bars.height),
        (canvas.width as f32, canvas.height as f32),
    );
    for ((face, (label, [lx, ly, lx2, _])), place) in result.faces.iter().zip(&labels).zip(places) {
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
        canvas.fill_rect(*lx as i64, *ly as i64, (lx2 - lx) as i64, lh as i64, color, 0.85);
        canvas.text(lx + 4.0, ly + 2.0, label, text, Rgb::WHITE);
        if let Some(at) = place {
            bars.draw(canvas, face.probabilities.as_slice(), classes, at);
        }
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

/// Writes a notice across the middle of `canvas` (which holds the last frame): what the source
/// is doing while no frame comes ("camera 0: no frame for 3.1 s, reopening it").
pub fn notice(canvas: &mut Canvas, message: &str) {
    let scale = (canvas.width.min(canvas.height) as f32 / 480.0).clamp(0.6, 2.5);
    let text = 16.0 * scale;
    let band = text + 16.0;
    let y = (canvas.height as f32 - band) / 2.0;
    // Opaque: the notice is redrawn over itself while the wait lasts.
    canvas.fill_rect(0, y as i64, canvas.width as i64, band as i64, Rgb(40, 40, 40), 1.0);
    let x = ((canvas.width as f32 - canvas.text_width(message, text)) / 2.0).max(4.0);
    canvas.text(x, y + 8.0, message, text, Rgb(255, 210, 60));
}

/// The bar chart of class probabilities shown beside a face.
struct BarPanel {
    text: f32,
    row: f32,
    name_w: f32,
    bar_w: f32,
    width: f32,
    height: f32,
}

impl BarPanel {
    fn measure(canvas: &Canvas, classes: &[String], scale: f32) -> BarPanel {
        let text = 10.0 * scale;
        let row = text + 3.0;
        let name_w = classes
            .iter()
            .map(|c| canvas.text_width(c, text))
            .fold(0.0f32, f32::max);
        let bar_w = 60.0 * scale;
        BarPanel {
            text,
            row,
            name_w,
            bar_w,
            width: name_w + bar_w + 12.0,
            height: row * classes.len() as f32 + 6.0,
        }
    }

    fn draw(&self, canvas: &mut Canvas, probabilities: &[f32], classes: &[String], (x, y): (f32, f32)) {
        canvas.fill_rect(
            x as i64,
            y as i64,
            self.width as i64,
            self.height as i64,
            Rgb::BLACK,
            0.55,
        );
        for (i, (p, name)) in probabilities.iter().zip(classes).enumerate() {
            let ry = y + 3.0 + i as f32 * self.row;
            canvas.text(x + 4.0, ry, name, self.text, Rgb::WHITE);
            let bx = x + 8.0 + self.name_w;
            canvas.fill_rect(
                bx as i64,
                (ry + 2.0) as i64,
                (self.bar_w * p.clamp(0.0, 1.0)) as i64,
                (self.text - 1.0) as i64,
                class_color(i),
                1.0,
            );
        }
    }
}

/// Where each face's label (`sizes`, one per box) goes: above its box, left-aligned with it,
/// else right-aligned, else below it, else inside its top edge; always inside the frame, and
/// clear of the labels placed before it and of the other faces' boxes where any candidate is.
/// Side-by-side faces whose labels are wider than their boxes get labels that do not overlap.
pub fn place_labels(boxes: &[[f32; 4]], sizes: &[(f32, f32)], frame: (f32, f32)) -> Vec<[f32; 4]> {
    let overlaps = |a: [f32; 4], b: [f32; 4]| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
    let mut placed: Vec<[f32; 4]> = Vec::with_capacity(boxes.len());
    for (i, (&[x1, y1, x2, y2], &(w, h))) in boxes.iter().zip(sizes).enumerate() {
        let clamp_x = |x: f32| x.min(frame.0 - w).max(0.0);
        let clamp_y = |y: f32| y.min(frame.1 - h).max(0.0);
        let rect = |(x, y): (f32, f32)| [x, y, x + w, y + h];
        let fits = |(_, y): &(f32, f32)| *y >= 0.0 && y + h <= frame.1;
        let candidates: Vec<(f32, f32)> = [
            (clamp_x(x1), y1 - h),
            (clamp_x(x2 - w), y1 - h),
            (clamp_x(x1), y2),
            (clamp_x(x2 - w), y2),
        ]
        .into_iter()
        .filter(fits)
        .chain([(clamp_x(x1), clamp_y(y1))])
        .collect();
        let clear_of_labels = |&&c: &&(f32, f32)| !placed.iter().any(|&p| overlaps(rect(c), p));
        let clear_of_faces =
            |&&c: &&(f32, f32)| boxes.iter().enumerate().all(|(j, &b)| j == i || !overlaps(rect(c), b));
        let at = candidates
            .iter()
            .filter(clear_of_labels)
            .find(clear_of_faces)
            .or_else(|| candidates.iter().find(clear_of_labels))
            .or(candidates.first())
            .copied()
            .unwrap_or((0.0, 0.0));
        placed.push(rect(at));
    }
    placed
}

/// Where each of the first `faces` boxes' bar panel (`size`) goes: right of the box, else
/// left, below or above it, inside the frame and clear of every obstacle (the face boxes, then
/// anything else drawn, such as labels) and of the panels placed before it. A face with no such
/// place gets none (crowds keep their boxes and labels readable).
pub fn place_panels(
    faces: usize,
    obstacles: &[[f32; 4]],
    size: (f32, f32),
    frame: (f32, f32),
) -> Vec<Option<(f32, f32)>> {
    const GAP: f32 = 6.0;
    let (w, h) = size;
    let overlaps = |a: [f32; 4], b: [f32; 4]| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
    let mut taken: Vec<[f32; 4]> = Vec::new();
    obstacles
        .iter()
        .take(faces)
        .map(|&[x1, y1, x2, y2]| {
            let top = y1.max(0.0).min((frame.1 - h).max(0.0));
            let left = x1.max(0.0).min((frame.0 - w).max(0.0));
            let candidates = [
                (x2 + GAP, top),
                (x1 - GAP - w, top),
                (left, y2 + GAP),
                (left, y1 - GAP - h),
            ];
            let place = candidates.into_iter().find(|&(x, y)| {
                let panel = [x, y, x + w, y + h];
                x >= 0.0
                    && y >= 0.0
                    && x + w <= frame.0
                    && y + h <= frame.1
                    && !obstacles.iter().chain(&taken).any(|&other| overlaps(panel, other))
            });
            if let Some((x, y)) = place {
                taken.push([x, y, x + w, y + h]);
            }
            place
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recognizer::{FaceResult, StageTimes};

    #[test]
    fn a_notice_crosses_the_middle_and_leaves_the_rest() {
        let mut canvas = Canvas::new(320, 240, Rgb(90, 90, 90));
        notice(&mut canvas, "camera 0: no frame for 3.1 s, reopening it");
        let at = |x: usize, y: usize| canvas.pixels[y * 320 + x];
        assert_eq!(at(2, 120), 0x282828, "the band spans the width");
        assert_eq!(at(160, 10), 0x5a5a5a, "the top of the frame stays");
        let lit = (100..140)
            .flat_map(|y| (0..320).map(move |x| (x, y)))
            .filter(|&(x, y)| at(x, y) & 0xff0000 > 0x800000)
            .count();
        assert!(lit > 50, "the text is drawn ({lit} pixels)");
    }

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

    #[test]
    fn labels_stay_in_the_frame_and_clear_of_each_other() {
        let overlap = |a: [f32; 4], b: [f32; 4]| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
        let frame = (640.0, 480.0);
        // One face: above its box, left-aligned.
        assert_eq!(
            place_labels(&[[100.0, 100.0, 200.0, 220.0]], &[(150.0, 20.0)], frame),
            vec![[100.0, 80.0, 250.0, 100.0]]
        );
        // At the top right corner: inside the frame (inside the box's top edge).
        let [x1, y1, x2, y2] = place_labels(&[[560.0, 0.0, 640.0, 90.0]], &[(150.0, 20.0)], frame)[0];
        assert!(
            x1 >= 0.0 && x2 <= 640.0 && y1 >= 0.0 && y2 <= 480.0,
            "{x1} {y1} {x2} {y2}"
        );
        // Faces side by side with labels wider than their boxes: no two labels overlap, and
        // no label covers another face.
        let boxes: Vec<[f32; 4]> = (0..3)
            .map(|i| [50.0 + 110.0 * i as f32, 150.0, 150.0 + 110.0 * i as f32, 250.0])
            .collect();
        let rects = place_labels(&boxes, &[(180.0, 20.0); 3], frame);
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                assert!(!overlap(*a, *b), "{a:?} {b:?}");
            }
            for (j, b) in boxes.iter().enumerate() {
                assert!(i == j || !overlap(*a, *b), "label {i} covers face {j}");
            }
        }
    }

    #[test]
    fn bar_panels_stay_clear_of_faces_and_of_each_other() {
        let overlap = |a: [f32; 4], b: [f32; 4]| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
        let frame = (640.0, 480.0);
        let size = (100.0, 80.0);
        // One face: right of its box.
        assert_eq!(
            place_panels(1, &[[100.0, 100.0, 200.0, 220.0]], size, frame),
            vec![Some((206.0, 100.0))]
        );
        // At the right edge: left of it.
        assert_eq!(
            place_panels(1, &[[560.0, 100.0, 630.0, 180.0]], size, frame),
            vec![Some((454.0, 100.0))]
        );
        // Two faces side by side, too close for a panel between them: the second goes right of
        // its own box, the first below its box.
        let boxes = [[100.0, 100.0, 200.0, 200.0], [250.0, 100.0, 350.0, 200.0]];
        let places = place_panels(2, &boxes, size, frame);
        let rects: Vec<[f32; 4]> = places
            .iter()
            .map(|p| {
                let (x, y) = p.expect("both fit");
                [x, y, x + size.0, y + size.1]
            })
            .collect();
        assert!(!overlap(rects[0], rects[1]));
        for r in &rects {
            assert!(boxes.iter().all(|b| !overlap(*r, *b)), "{r:?}");
        }
        // A crowd that fills the frame: no panel covers a face.
        let crowd: Vec<[f32; 4]> = (0..6)
            .flat_map(|i| {
                (0..4).map(move |j| {
                    [
                        i as f32 * 106.0,
                        j as f32 * 120.0,
                        i as f32 * 106.0 + 100.0,
                        j as f32 * 120.0 + 110.0,
                    ]
                })
            })
            .collect();
        assert!(
            place_panels(crowd.len(), &crowd, size, frame)
                .iter()
                .all(Option::is_none)
        );
        // Obstacles beyond the faces (a label) are kept clear too.
        let label = [206.0, 100.0, 300.0, 120.0];
        assert_eq!(
            place_panels(1, &[[100.0, 100.0, 200.0, 220.0], label], size, frame),
            vec![Some((100.0, 226.0))]
        );
    }
}
