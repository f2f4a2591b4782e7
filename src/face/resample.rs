//! What both face detectors need around their networks: OpenCV's INTER_AREA resampling of an
//! image region into a network's input, and a cache of tract plans compiled per input size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::TypedSimplePlan;

use crate::error::Result;

/// Source taps and weights of each destination pixel along one axis (OpenCV's INTER_AREA:
/// coverage fractions when shrinking, bilinear with edge clamping when enlarging).
pub(crate) fn weights(src: usize, dst: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            if scale >= 1.0 {
                let (start, end) = (d as f64 * scale, (d + 1) as f64 * scale);
                let mut taps = Vec::new();
                let mut s = start.floor() as usize;
                while (s as f64) < end && s < src {
                    let cover = (end.min(s as f64 + 1.0) - start.max(s as f64)).max(0.0);
                    if cover > 1e-9 {
                        taps.push((s, (cover / scale) as f32));
                    }
                    s += 1;
                }
                taps
            } else {
                // INTER_AREA enlarging is INTER_LINEAR.
                let f = ((d as f64 + 0.5) * scale - 0.5).max(0.0);
                let i = (f.floor() as usize).min(src - 1);
                let t = (f - i as f64) as f32;
                if i + 1 < src && t > 0.0 {
                    vec![(i, 1.0 - t), (i + 1, t)]
                } else {
                    vec![(i, 1.0)]
                }
            }
        })
        .collect()
}

/// Resamples a `w` x `h` region, whose pixels `pixel(x, y)` gives (RGB, 0-255), to `dw` x `dh`
/// with INTER_AREA weights: a horizontal pass, then a vertical one that hands each output
/// pixel to `store(dx, dy, rgb)` (which lays it out as its network wants).
pub(crate) fn resample_area(
    (w, h): (usize, usize),
    (dw, dh): (usize, usize),
    pixel: impl Fn(usize, usize) -> [f32; 3],
    mut store: impl FnMut(usize, usize, [f32; 3]),
) {
    let xw = weights(w, dw);
    let yw = weights(h, dh);
    // Horizontal pass: h rows of dw pixels.
    let mut rows = vec![[0.0f32; 3]; h * dw];
    for sy in 0..h {
        for (dx, taps) in xw.iter().enumerate() {
            let mut acc = [0.0f32; 3];
            for &(sx, wt) in taps {
                let p = pixel(sx, sy);
                for c in 0..3 {
                    acc[c] += p[c] * wt;
                }
            }
            rows[sy * dw + dx] = acc;
        }
    }
    for (dy, taps) in yw.iter().enumerate() {
        for dx in 0..dw {
            let mut acc = [0.0f32; 3];
            for &(sy, wt) in taps {
                let p = rows[sy * dw + dx];
                for c in 0..3 {
                    acc[c] += p[c] * wt;
                }
            }
            store(dx, dy, acc);
        }
    }
}

/// Plans compiled per input size (width, height), at most `limit` kept (the cache starts over
/// when full: a stream has one size, a folder of photos a few).
pub(crate) struct PlanCache {
    plans: Mutex<HashMap<(usize, usize), Arc<TypedSimplePlan>>>,
    limit: usize,
}

impl PlanCache {
    /// An empty cache keeping at most `limit` plans.
    pub(crate) fn new(limit: usize) -> PlanCache {
        PlanCache {
            plans: Mutex::new(HashMap::new()),
            limit,
        }
    }

    /// The plan for `size`, compiled by `compile` the first time.
    pub(crate) fn get(
        &self,
        size: (usize, usize),
        compile: impl FnOnce() -> Result<Arc<TypedSimplePlan>>,
    ) -> Result<Arc<TypedSimplePlan>> {
        if let Some(plan) = self.plans.lock().ok().and_then(|p| p.get(&size).cloned()) {
            return Ok(plan);
        }
        let plan = compile()?;
        if let Ok(mut plans) = self.plans.lock() {
            if plans.len() >= self.limit {
                plans.clear();
            }
            plans.insert(size, plan.clone());
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_weights_average_whole_and_partial_pixels() {
        // 4 -> 2: each output pixel is the mean of two inputs.
        assert_eq!(weights(4, 2), vec![vec![(0, 0.5), (1, 0.5)], vec![(2, 0.5), (3, 0.5)]]);
        // 3 -> 2: coverage 1 and 0.5 of 1.5.
        let w = weights(3, 2);
        assert_eq!(w[0].len(), 2);
        assert!((w[0][0].1 - 2.0 / 3.0).abs() < 1e-6 && (w[0][1].1 - 1.0 / 3.0).abs() < 1e-6);
        for taps in weights(37, 12).iter().chain(weights(5, 9).iter()) {
            let sum: f32 = taps.iter().map(|t| t.1).sum();
            assert!((sum - 1.0).abs() < 1e-5, "{taps:?}");
        }
    }

    #[test]
    fn resampling_halves_by_averaging_and_visits_every_output_pixel() {
        // A 4x2 ramp to 2x1: the means of pixel pairs.
        let mut out = vec![[0.0f32; 3]; 2];
        resample_area(
            (4, 2),
            (2, 1),
            |x, y| [(x + 4 * y) as f32; 3],
            |dx, dy, rgb| out[dy * 2 + dx] = rgb,
        );
        assert_eq!(out, vec![[2.5; 3], [4.5; 3]]);
    }
}
