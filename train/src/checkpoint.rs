//! Checkpoints of a training run, in its output folder:
//!
//! ```text
//! OUT/checkpoints/epoch-0007/{model.bpk, optimizer.bin, state.json}   last two epochs
//! OUT/checkpoints/latest                                              name of the newest
//! OUT/best/{model.bpk, state.json}                                    best validation accuracy
//! ```
//!
//! `model.bpk` is burn's burnpack record of the model, `optimizer.bin` the optimizer state,
//! `state.json` everything else needed to continue exactly: the epoch, the configuration, SCN's
//! label table and the metrics so far. Every folder is written under a temporary name and
//! renamed into place, so a crash or a full disk never leaves a broken checkpoint behind.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use crate::config::TrainConfig;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::model::{FaceResNetConfig, ResNetConfig, Scn, ScnConfig};
pub use crate::run_state::{Best, FORMAT_VERSION, RunState, STATE_FILE, read_state};

/// File name of the model record.
pub const MODEL_FILE: &str = "model.bpk";
/// File name of the optimizer state.
pub const OPTIMIZER_FILE: &str = "optimizer.bin";
/// Epoch checkpoints kept unless the run asks for another number (`--keep-checkpoints`).
pub const DEFAULT_KEEP: usize = 2;

impl RunState {
    /// The model configuration this run trains.
    pub fn model_config(&self) -> ScnConfig {
        model_config(&self.config, self.classes.len())
    }
}

/// The model configuration for a training configuration and class count.
pub fn model_config(config: &TrainConfig, num_classes: usize) -> ScnConfig {
    ScnConfig::new(num_classes)
        .with_backbone(
            ResNetConfig::new()
                .with_in_channels(config.input.channels as usize)
                .with_width(config.width)
                .with_stem(config.stem),
        )
        .with_face(
            (config.backbone == crate::config::Backbone::Dlib)
                .then(|| FaceResNetConfig::new().with_in_channels(config.input.channels as usize)),
        )
        .with_dropout(config.dropout)
        .with_baseline(config.baseline)
}

fn record_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Record {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The model's parameters as burnpack bytes.
pub fn model_bytes(model: &Scn, path_for_errors: &Path) -> Result<Vec<u8>> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| record_error(path_for_errors, e))?;
    Ok(bytes.to_vec())
}

/// Loads burnpack bytes into `model`.
pub fn load_model_bytes(model: Scn, bytes: Vec<u8>, path_for_errors: &Path) -> Result<Scn> {
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| record_error(path_for_errors, e))?;
    Ok(model.load_record(record))
}

/// Reads a model file into `model` (which must have the same structure).
pub fn load_model(model: Scn, path: &Path) -> Result<Scn> {
    let bytes = std::fs::read(path).at(path)?;
    // A record that does not fit the module panics inside burn: check it first.
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| record_error(path, e))?;
    let expected = model.num_params();
    let model = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.load_record(record)))
        .map_err(|_| record_error(path, "the model file does not match this model's structure"))?;
    debug_assert_eq!(model.num_params(), expected);
    Ok(model)
}

fn state_json(state: &RunState) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(state).map_err(|e| Error::InvalidArgument(format!("cannot serialise the run state: {e}")))
}

/// The best-model folder of an output folder (`OUT/best`), put back first if a crash caught it
/// being replaced ([`fsutil::recover_dir`]).
pub fn best_dir(out: &Path) -> PathBuf {
    let dir = out.join("best");
    fsutil::recover_dir(&dir);
    dir
}

/// The checkpoints folder of an output folder.
pub fn checkpoints_dir(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

/// Writes the checkpoint of a completed epoch and prunes older ones, keeping the newest `keep`
/// (0: every epoch's); returns its folder.
pub fn save(out: &Path, model: &Scn, optimizer: &ModuleOptimizer, state: &RunState, keep: usize) -> Result<PathBuf> {
    let root = checkpoints_dir(out);
    std::fs::create_dir_all(&root).at(&root)?;
    let name = format!("epoch-{:04}", state.epoch);
    let dir = root.join(&name);
    let model = model_bytes(model, &dir.join(MODEL_FILE))?;
    let optim = optimizer
        .into_bytes()
        .map_err(|e| record_error(&dir.join(OPTIMIZER_FILE), e))?;
    let state_bytes = state_json(state)?;
    fsutil::write_dir_atomically(
        &dir,
        &[
            (MODEL_FILE, &model),
            (OPTIMIZER_FILE, &optim),
            (STATE_FILE, &state_bytes),
        ],
    )?;
    fsutil::write_bytes(&root.join("latest"), name.as_bytes())?;
    prune(&root, &name, keep)?;
    Ok(dir)
}

/// Keeps the newest `keep` epoch folders up to `newest` (0: all of them).
fn prune(root: &Path, newest: &str, keep: usize) -> Result<()> {
    if keep == 0 {
        return Ok(());
    }
    let mut names: Vec<String> = std::fs::read_dir(root)
        .at(root)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("epoch-") && n.as_str() <= newest)
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    for name in &names[..excess] {
        let path = root.join(name);
        std::fs::remove_dir_all(&path).at(&path)?;
    }
    Ok(())
}

/// Writes the best model so far.
pub fn save_best(out: &Path, model: &Scn, state: &RunState) -> Result<PathBuf> {
    let dir = out.join("best");
    let model = model_bytes(model, &dir.join(MODEL_FILE))?;
    let state_bytes = state_json(state)?;
    fsutil::write_dir_atomically(&dir, &[(MODEL_FILE, &model), (STATE_FILE, &state_bytes)])?;
    Ok(dir)
}

/// Rewrites the state of a checkpoint folder (its model file stays).
pub fn write_state(dir: &Path, state: &RunState) -> Result<()> {
    fsutil::write_bytes(&dir.join(STATE_FILE), &state_json(state)?)
}

/// The newest checkpoint folder of an output folder, if any.
pub fn latest(out: &Path) -> Result<Option<PathBuf>> {
    let root = checkpoints_dir(out);
    let pointer = root.join("latest");
    if !pointer.is_file() {
        return Ok(None);
    }
    let name = std::fs::read_to_string(&pointer).at(&pointer)?;
    let dir = root.join(name.trim());
    if !dir.join(STATE_FILE).is_file() {
        return Err(Error::Missing {
            path: dir,
            what: "the checkpoint named by checkpoints/latest".into(),
        });
    }
    Ok(Some(dir))
}

/// Loads a checkpoint's optimizer state.
pub fn load_optimizer(optimizer: ModuleOptimizer, dir: &Path) -> Result<ModuleOptimizer> {
    let path = dir.join(OPTIMIZER_FILE);
    let bytes = std::fs::read(&path).at(&path)?;
    optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| record_error(&path, e))
}
