//! A training run's state besides its tensors (`state.json` in every checkpoint folder and in
//! `best/`): the epoch, the configuration, SCN's label table and the metrics so far. Plain data,
//! readable without burn; [`crate::checkpoint`] writes it beside the model.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Error, IoContext, Result};
use crate::metadata::FaceTemplate;
use crate::metrics::{EpochMetrics, Evaluation};
use crate::relabel::LabelTable;

/// Version of the checkpoint layout.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the run state.
pub const STATE_FILE: &str = "state.json";

/// The best model so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Its epoch.
    pub epoch: usize,
    /// Its validation accuracy.
    pub accuracy: f64,
}

/// Everything about a run besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Epochs completed.
    pub epoch: usize,
    /// The run's settings.
    pub config: TrainConfig,
    /// Class names in output order.
    pub classes: Vec<String>,
    /// What the training data was ("FERPlus, majority labels, 8 classes at ...").
    pub dataset: String,
    /// Training samples (the label table's length).
    pub train_samples: usize,
    /// SCN's labels.
    pub labels: LabelTable,
    /// Metrics of every completed epoch.
    pub history: Vec<EpochMetrics>,
    /// The best epoch so far.
    pub best: Option<Best>,
    /// Where it trained.
    pub device: String,
    /// The split validated on (`valid` or `test`; absent in runs older than the field).
    #[serde(default)]
    pub validation_split: Option<String>,
    /// Where the landmarks of the training faces sit (absent where the layout does not fix it,
    /// and in runs older than the field).
    #[serde(default)]
    pub face_template: Option<FaceTemplate>,
    /// The trained run or exported model this one started from (`--init-from`), as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_from: Option<String>,
    /// In best/: the test-split evaluation of this model, measured when training finished.
    #[serde(default)]
    pub test: Option<Evaluation>,
}

/// Reads `state.json` of a checkpoint folder.
pub fn read_state(dir: &Path) -> Result<RunState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).at(&path)?;
    let state: RunState = serde_json::from_str(&text).map_err(|e| Error::Malformed {
        path: path.clone(),
        line: Some(e.line() as u64),
        reason: e.to_string(),
    })?;
    if state.format_version != FORMAT_VERSION {
        return Err(Error::Malformed {
            path,
            line: None,
            reason: format!(
                "checkpoint format {} (this scn reads {FORMAT_VERSION})",
                state.format_version
            ),
        });
    }
    Ok(state)
}
