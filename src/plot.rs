//! Plots a person would rather look at than read: training curves (a grid of line charts) and
//! confusion matrices (row-normalised heat maps with counts), drawn on a [`Canvas`].

use crate::draw::{Canvas, Rgb};

/// One line of a chart: (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// Its lines.
    pub series: Vec<Series>,
    /// Fixed y range; fitted to the data when `None`.
    pub y_range: Option<(f64, f64)>,
}

const PANEL_W: usize = 520;
const PANEL_H: usize = 330;

fn nice_step(span: f64) -> f64 {
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    mag * if norm < 1.5 {
        1.0
    } else if norm < 3.5 {
        2.0
    } else if norm < 7.5 {
        5.0
    } else {
        10.0
    }
}

/// A tick label with as many decimals as the tick step needs, so that neighbouring ticks
/// never read the same (a loss axis from 1.40 to 1.75 in steps of 0.05).
fn label(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    if v.abs() < step * 1e-6 {
        "0".into()
    } else {
        format!("{v:.decimals$}")
    }
}

fn draw_panel(c: &mut Canvas, ox: f64, oy: f64, panel: &Panel) {
    let (left, right, top, bottom) = (
        ox + 62.0,
        ox + PANEL_W as f64 - 16.0,
        oy + 34.0,
        oy + PANEL_H as f64 - 62.0,
    );
    c.text(ox as f32 + 62.0, oy as f32 + 8.0, &panel.title, 16.0, Rgb::INK);
    let points: Vec<(f64, f64)> = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| p.1.is_finite())
        .collect();
    if points.is_empty() {
        c.text(
            left as f32 + 10.0,
            ((top + bottom) / 2.0) as f32,
            "no data yet",
            14.0,
            Rgb::INK,
        );
        return;
    }
    let (mut x0, mut x1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    if x1 <= x0 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    let (mut y0, mut y1) = panel.y_range.unwrap_or_else(|| {
        points
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)))
    });
    if y1 - y0 < 1e-9 {
        y0 -= 0.5;
        y1 += 0.5;
    }
    let px = |x: f64| (left + (x - x0) / (x1 - x0) * (right - left)) as f32;
    let py = |y: f64| (bottom - (y - y0) / (y1 - y0) * (bottom - top)) as f32;
    let step = nice_step(y1 - y0);
    let mut tick = (y0 / step).ceil() * step;
    while tick <= y1 + 1e-12 {
        c.line((left as f32, py(tick)), (right as f32, py(tick)), 1.0, Rgb::GRID);
        let text = label(tick, step);
        let w = c.text_width(&text, 12.0);
        c.text(left as f32 - 6.0 - w, py(tick) - 8.0, &text, 12.0, Rgb::INK);
        tick += step;
    }
    let xstep = nice_step(x1 - x0).max(1.0);
    let mut xt = (x0 / xstep).ceil() * xstep;
    while xt <= x1 + 1e-12 {
        let text = label(xt, xstep);
        let w = c.text_width(&text, 12.0);
        c.text(px(xt) - w / 2.0, bottom as f32 + 6.0, &text, 12.0, Rgb::INK);
        xt += xstep;
    }
    c.line(
        (left as f32, bottom as f32),
        (right as f32, bottom as f32),
        1.5,
        Rgb::INK,
    );
    c.line((left as f32, top as f32), (left as f32, bottom as f32), 1.5, Rgb::INK);
    c.text(
        ((left + right) / 2.0) as f32 - 18.0,
        bottom as f32 + 22.0,
        "epoch",
        12.0,
        Rgb::INK,
    );
    let names: Vec<&str> = panel.series.iter().map(|s| s.name.as_str()).collect();
    let (mut legend_x, legend_size) = legend_layout(
        c,
        &names,
        left as f32,
        ox as f32 + LEGEND_INSET,
        (ox + PANEL_W as f64) as f32 - LEGEND_INSET,
    );
    for (i, s) in panel.series.iter().enumerate() {
        let color = Rgb::palette(i);
        let pts: Vec<(f32, f32)> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| (px(x), py(y.clamp(y0, y1))))
            .collect();
        for w in pts.windows(2) {
            c.line(w[0], w[1], 2.0, color);
        }
        for &p in &pts {
            c.fill_rect(p.0 as i64 - 2, p.1 as i64 - 2, 5, 5, color, 1.0);
        }
        let ly = bottom as f32 + 40.0;
        c.line((legend_x, ly + 7.0), (legend_x + 18.0, ly + 7.0), 3.0, color);
        c.text(legend_x + LEGEND_TEXT_AT, ly, &s.name, legend_size, Rgb::INK);
        legend_x += LEGEND_SWATCH + c.text_width(&s.name, legend_size);
    }
}

/// Room a legend entry takes besides its text: the colour swatch, the gap and the space after.
const LEGEND_SWATCH: f32 = 30.0;
/// Where an entry's text starts, after its colour swatch and the gap.
const LEGEND_TEXT_AT: f32 = 22.0;
/// The legend's margin from the panel's edges.
const LEGEND_INSET: f32 = 8.0;
/// The legend's text size when it fits.
const LEGEND_SIZE: f32 = 12.0;

/// Where a panel's legend starts and its text size, so that it ends inside the panel: under
/// the plot area when it fits there, from the panel's left margin when not, and in smaller text
/// (down to 8 px) when even that is too narrow.
fn legend_layout(c: &Canvas, names: &[&str], plot_left: f32, min_x: f32, max_x: f32) -> (f32, f32) {
    let width = legend_width(c, names, LEGEND_SIZE);
    let text: f32 = names.iter().map(|n| c.text_width(n, LEGEND_SIZE)).sum();
    if plot_left + width <= max_x {
        return (plot_left, LEGEND_SIZE);
    }
    if min_x + width <= max_x || text <= 0.0 {
        return (min_x, LEGEND_SIZE);
    }
    let room = max_x - min_x - (width - text);
    (min_x, (LEGEND_SIZE * room / text).floor().max(8.0))
}

/// Width of a legend of `names` in text of `size` pixels, as `draw_panel` lays it out (the last
/// entry needs no space after it).
fn legend_width(c: &Canvas, names: &[&str], size: f32) -> f32 {
    names.iter().map(|n| LEGEND_SWATCH + c.text_width(n, size)).sum::<f32>() - (LEGEND_SWATCH - LEGEND_TEXT_AT)
}

/// A grid of line charts, `columns` wide.
pub fn panels(panels: &[Panel], columns: usize) -> Canvas {
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let mut c = Canvas::new(PANEL_W * columns, PANEL_H * rows, Rgb::WHITE);
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(
            &mut c,
            ((i % columns) * PANEL_W) as f64,
            ((i / columns) * PANEL_H) as f64,
            panel,
        );
    }
    c
}

/// A confusion matrix: rows are true classes, columns predictions; cells coloured by the row's
/// share and labelled with the count and percentage.
pub fn confusion_matrix(counts: &[Vec<u64>], classes: &[&str], title: &str) -> Canvas {
    let n = counts.len().max(1);
    let cell = 74usize;
    let margin_left = 120usize;
    let margin_top = 80usize;
    let width = margin_left + n * cell + 20;
    let height = margin_top + n * cell + 50;
    let mut c = Canvas::new(width, height, Rgb::WHITE);
    c.text(10.0, 10.0, title, 16.0, Rgb::INK);
    c.text(margin_left as f32, 40.0, "predicted", 12.0, Rgb::INK);
    for (j, name) in classes.iter().enumerate().take(n) {
        let short: String = name.chars().take(9).collect();
        let w = c.text_width(&short, 12.0);
        c.text(
            (margin_left + j * cell) as f32 + (cell as f32 - w) / 2.0,
            58.0,
            &short,
            12.0,
            Rgb::INK,
        );
    }
    for (i, row) in counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        let y = margin_top + i * cell;
        let name = classes.get(i).copied().unwrap_or("?");
        c.text(10.0, y as f32 + cell as f32 / 2.0 - 8.0, name, 13.0, Rgb::INK);
        for (j, &count) in row.iter().enumerate() {
            let share = if total > 0 { count as f64 / total as f64 } else { 0.0 };
            let x = margin_left + j * cell;
            let shade = (255.0 - share * 200.0) as u8;
            let fill = if i == j {
                Rgb(shade, (255.0 - share * 120.0) as u8, shade)
            } else {
                Rgb((255.0 - share * 60.0) as u8, shade, shade)
            };
            c.fill_rect(x as i64, y as i64, cell as i64, cell as i64, fill, 1.0);
            c.stroke_rect(x as i64, y as i64, cell as i64 + 1, cell as i64 + 1, 1, Rgb::GRID);
            let ink = if share > 0.55 { Rgb::WHITE } else { Rgb::INK };
            let count_text = count.to_string();
            let pct = format!("{:.0}%", 100.0 * share);
            let (wc, wp) = (c.text_width(&count_text, 14.0), c.text_width(&pct, 11.0));
            c.text(
                x as f32 + (cell as f32 - wc) / 2.0,
                y as f32 + 20.0,
                &count_text,
                14.0,
                ink,
            );
            c.text(x as f32 + (cell as f32 - wp) / 2.0, y as f32 + 42.0, &pct, 11.0, ink);
        }
    }
    c.text(
        10.0,
        (margin_top + n * cell + 16) as f32,
        "rows: true class, cells: count and share of the row",
        12.0,
        Rgb::INK,
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legends_end_inside_their_panel() {
        let c = Canvas::new(PANEL_W, PANEL_H, Rgb::WHITE);
        let (min_x, max_x) = (LEGEND_INSET, PANEL_W as f32 - LEGEND_INSET);
        let end = |names: &[&str], (x, size): (f32, f32)| x + legend_width(&c, names, size);
        let short = ["train", "validation", "val. mean class"];
        assert_eq!(legend_layout(&c, &short, 62.0, min_x, max_x), (62.0, LEGEND_SIZE));
        // The relabeling panel of a run with a noise record: four entries.
        let long = [
            "relabeled (epoch)",
            "relabeled (total)",
            "flipped restored",
            "labels wrong",
        ];
        let layout = legend_layout(&c, &long, 62.0, min_x, max_x);
        assert!(end(&long, layout) <= max_x, "{layout:?} ends at {}", end(&long, layout));
        assert!(layout.1 >= 8.0);
        let longer = [long, long].concat();
        let layout = legend_layout(&c, &longer, 62.0, min_x, max_x);
        assert_eq!(layout, (min_x, 8.0), "no smaller than 8 px, even when it cannot fit");
    }

    #[test]
    fn charts_and_matrices_render() {
        let series = Series {
            name: "loss".into(),
            points: vec![(1.0, 2.0), (2.0, 1.0), (3.0, f64::NAN)],
        };
        let c = panels(
            &[
                Panel {
                    title: "Loss".into(),
                    series: vec![series],
                    y_range: None,
                },
                Panel {
                    title: "Empty".into(),
                    series: vec![],
                    y_range: None,
                },
            ],
            2,
        );
        assert_eq!((c.width, c.height), (2 * PANEL_W, PANEL_H));
        assert!(
            c.pixels.contains(&0x0072B2),
            "the line is drawn in the first palette colour"
        );
        let m = confusion_matrix(&[vec![8, 2], vec![1, 9]], &["happiness", "sadness"], "test");
        assert!(m.width > 200 && m.height > 200);
        assert_eq!(nice_step(1.0), 0.2);
        assert_eq!(label(0.25, 0.05), "0.25");
        // Neighbouring ticks of a narrow loss axis read differently.
        let ticks: Vec<String> = (28..=35).map(|i| label(f64::from(i) * 0.05, 0.05)).collect();
        assert_eq!(ticks[..3], ["1.40", "1.45", "1.50"]);
        assert_eq!(
            (label(80.0, 20.0), label(0.0, 0.2), label(-0.4, 0.2)),
            ("80".into(), "0".into(), "-0.4".into())
        );
    }
}
