//! Face tracking across frames: each detection is matched to the track whose last box overlaps
//! it most (greedy, by intersection over union), so that a face keeps its id while it moves,
//! and its class probabilities and attention weight are averaged over the last frames (a
//! moving window), which steadies the label of a live face without hiding real changes for
//! long.

use std::collections::VecDeque;

use crate::face::boxes::BoundingBox;

/// Settings of the tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Smallest overlap (IoU) for a detection to continue a track.
    pub min_iou: f32,
    /// Frames averaged per face (1: no smoothing).
    pub window: usize,
    /// Frames a track survives without a detection before it ends.
    pub max_missed: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            min_iou: 0.3,
            window: 5,
            max_missed: 15,
        }
    }
}

/// One face's classification in one frame, as input to the tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Where the face is.
    pub bbox: BoundingBox,
    /// Class probabilities of this frame.
    pub probabilities: Vec<f32>,
    /// SCN's attention weight in this frame.
    pub alpha: Option<f32>,
}

/// A tracked face after this frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    /// Stable id (1, 2, ... in order of appearance).
    pub id: u64,
    /// Class probabilities averaged over the window.
    pub probabilities: Vec<f32>,
    /// Attention weight averaged over the window.
    pub alpha: Option<f32>,
}

#[derive(Debug)]
struct Track {
    id: u64,
    bbox: BoundingBox,
    history: VecDeque<(Vec<f32>, Option<f32>)>,
    missed: usize,
}

/// Keeps the faces of a stream.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// A tracker with no faces yet.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config: TrackerConfig {
                window: config.window.max(1),
                ..config
            },
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Number of live tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Whether no face is tracked.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Matches this frame's faces to the tracks and returns, per face in input order, its id
    /// and smoothed values. Unmatched faces start tracks; tracks unseen for more than
    /// `max_missed` frames end.
    pub fn update(&mut self, faces: &[Observation]) -> Vec<Tracked> {
        // All (track, face) pairs that overlap enough, best first.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            for (f, face) in faces.iter().enumerate() {
                let iou = track.bbox.iou(&face.bbox);
                if iou >= self.config.min_iou {
                    pairs.push((iou, t, f));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of: Vec<Option<usize>> = vec![None; faces.len()];
        let mut taken = vec![false; self.tracks.len()];
        for (_, t, f) in pairs {
            if !taken[t] && track_of[f].is_none() {
                taken[t] = true;
                track_of[f] = Some(t);
            }
        }
        for (t, track) in self.tracks.iter_mut().enumerate() {
            if !taken[t] {
                track.missed += 1;
            }
        }
        let mut out = Vec::with_capacity(faces.len());
        for (f, face) in faces.iter().enumerate() {
            let t = match track_of[f] {
                Some(t) => t,
                None => {
                    self.tracks.push(Track {
                        id: self.next_id,
                        bbox: face.bbox,
                        history: VecDeque::with_capacity(self.config.window),
                        missed: 0,
                    });
                    self.next_id += 1;
                    self.tracks.len() - 1
                }
            };
            let track = &mut self.tracks[t];
            track.bbox = face.bbox;
            track.missed = 0;
            if track.history.len() == self.config.window {
                track.history.pop_front();
            }
            track.history.push_back((face.probabilities.clone(), face.alpha));
            out.push(Tracked {
                id: track.id,
                probabilities: mean_probabilities(&track.history),
                alpha: mean_alpha(&track.history),
            });
        }
        let max_missed = self.config.max_missed;
        self.tracks.retain(|t| t.missed <= max_missed);
        out
    }
}

fn mean_probabilities(history: &VecDeque<(Vec<f32>, Option<f32>)>) -> Vec<f32> {
    let k = history.back().map(|h| h.0.len()).unwrap_or(0);
    let mut sum = vec![0.0f32; k];
    let mut n = 0.0f32;
    for (p, _) in history.iter().filter(|h| h.0.len() == k) {
        for (s, v) in sum.iter_mut().zip(p) {
            *s += v;
        }
        n += 1.0;
    }
    sum.iter().map(|s| s / n.max(1.0)).collect()
}

fn mean_alpha(history: &VecDeque<(Vec<f32>, Option<f32>)>) -> Option<f32> {
    let values: Vec<f32> = history.iter().filter_map(|h| h.1).collect();
    (!values.is_empty()).then(|| values.iter().sum::<f32>() / values.len() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(x: f32, p: f32) -> Observation {
        Observation {
            bbox: BoundingBox {
                x1: x,
                y1: 0.0,
                x2: x + 100.0,
                y2: 100.0,
            },
            probabilities: vec![p, 1.0 - p],
            alpha: Some(p),
        }
    }

    #[test]
    fn faces_keep_their_ids_while_they_move() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let ids = |v: Vec<Tracked>| v.iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(tracker.update(&[obs(0.0, 0.5), obs(300.0, 0.5)])), vec![1, 2]);
        // Both move a little, listed in the other order.
        assert_eq!(ids(tracker.update(&[obs(310.0, 0.5), obs(10.0, 0.5)])), vec![2, 1]);
        // A new face far away gets a new id.
        assert_eq!(ids(tracker.update(&[obs(20.0, 0.5), obs(700.0, 0.5)])), vec![1, 3]);
    }

    #[test]
    fn probabilities_are_averaged_over_the_window_and_tracks_expire() {
        let mut tracker = Tracker::new(TrackerConfig {
            window: 2,
            max_missed: 1,
            ..TrackerConfig::default()
        });
        tracker.update(&[obs(0.0, 1.0)]);
        let t = tracker.update(&[obs(0.0, 0.0)]);
        assert_eq!(t[0].probabilities, vec![0.5, 0.5]);
        assert_eq!(t[0].alpha, Some(0.5));
        let t = tracker.update(&[obs(0.0, 0.0)]);
        assert_eq!(t[0].probabilities, vec![0.0, 1.0], "the oldest frame left the window");
        // Two frames without the face: its track ends, it comes back as a new one.
        tracker.update(&[]);
        tracker.update(&[]);
        assert!(tracker.is_empty());
        assert_eq!(tracker.update(&[obs(0.0, 0.0)])[0].id, 2);
        // Window 1 is the raw output.
        let mut raw = Tracker::new(TrackerConfig {
            window: 1,
            ..TrackerConfig::default()
        });
        raw.update(&[obs(0.0, 1.0)]);
        assert_eq!(raw.update(&[obs(0.0, 0.2)])[0].probabilities, vec![0.2, 0.8]);
    }
}
