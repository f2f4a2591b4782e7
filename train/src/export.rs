//! `scn export`: a trained checkpoint as an ONNX file the runtime (tract) or any ONNX runtime
//! can run. burn's capture exporter records the forward pass with a symbolic batch axis; a pass
//! over the protobuf then names the graph's input `image` and outputs `logits` and `alpha`,
//! optionally folds each BatchNorm into the convolution before it, and writes the
//! [`ModelMetadata`] into `metadata_props`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};
use onnx_ir::{Message, ModelProto, NodeProto, TensorProto};

use crate::checkpoint::{self, RunState};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::metadata::{ALPHA_NAME, FaceTemplate, INPUT_NAME, LOGITS_NAME, ModelMetadata, Score};
use crate::model::{Scn, ScnConfig};

/// Choices of `scn export`.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The face-crop template; default: the one the run recorded (or its dataset's).
    pub face_template: Option<FaceTemplate>,
    /// Keep BatchNorm as separate operations instead of folding it into the convolutions.
    pub keep_batch_norm: bool,
}

/// What was exported.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The checkpoint folder the weights came from.
    pub checkpoint: PathBuf,
    /// Its epoch.
    pub epoch: usize,
    /// The metadata written.
    pub metadata: ModelMetadata,
    /// Size of the ONNX file in bytes.
    pub bytes: usize,
    /// BatchNorm operations folded into convolutions.
    pub folded_batch_norms: usize,
}

/// The checkpoint folder `path` designates: a folder with `state.json` as it is; a run folder
/// (the `--out` of `scn train`): its `best/`, else its latest epoch checkpoint.
pub fn resolve_checkpoint(path: &Path) -> Result<PathBuf> {
    if path.join(checkpoint::STATE_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    let best = checkpoint::best_dir(path);
    if best.join(checkpoint::STATE_FILE).is_file() {
        return Ok(best);
    }
    if path.is_dir()
        && let Some(latest) = checkpoint::latest(path)?
    {
        return Ok(latest);
    }
    Err(Error::Missing {
        path: path.to_path_buf(),
        what: format!(
            "a checkpoint: a folder with {} and {}, or a training output folder with best/ or checkpoints/",
            checkpoint::STATE_FILE,
            checkpoint::MODEL_FILE
        ),
    })
}

/// The metadata of a run's checkpoint: classes, input, the face template, and the validation
/// accuracy and alpha percentiles of the checkpoint's epoch.
pub fn metadata_for(state: &RunState, face_template: Option<FaceTemplate>) -> Result<ModelMetadata> {
    let face_template = face_template
        .or_else(|| state.face_template.clone())
        .or_else(|| legacy_template(&state.dataset))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the run does not say where the faces of its training images ({}) sit: pass --face-template \
                 (fer2013, rafdb, or a JSON file)",
                state.dataset
            ))
        })?;
    face_template.validate().map_err(Error::InvalidArgument)?;
    let epoch = state.history.iter().find(|h| h.epoch == state.epoch);
    let validation = epoch.and_then(|h| h.validation.as_ref());
    let mut training = serde_json::to_value(&state.config).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut training {
        map.insert("device".into(), state.device.clone().into());
        map.insert("train_images".into(), state.train_samples.into());
        map.insert("epochs_trained".into(), state.epoch.into());
    }
    Ok(ModelMetadata {
        classes: state.classes.clone(),
        input: state.config.input.clone(),
        face_template,
        alpha_percentiles: validation.map(|v| v.alpha_percentiles.clone()).unwrap_or_default(),
        class_prior: crate::metadata::class_shares(&state.labels.original, state.classes.len()),
        dataset: state.dataset.clone(),
        validation: validation.map(|v| Score {
            split: state.validation_split.clone().unwrap_or_else(|| "valid".into()),
            images: v.images,
            accuracy: v.accuracy,
            mean_class_accuracy: v.mean_class_accuracy,
            epoch: state.epoch,
        }),
        test: state.test.as_ref().map(|t| Score {
            split: "test".into(),
            images: t.images,
            accuracy: t.accuracy,
            mean_class_accuracy: t.mean_class_accuracy,
            epoch: state.epoch,
        }),
        training,
    })
}

/// Runs from before the trainer recorded the template: FER2013 and FERPlus fix it.
fn legacy_template(dataset: &str) -> Option<FaceTemplate> {
    (dataset.starts_with("FERPlus") || dataset.starts_with("FER2013")).then(FaceTemplate::fer2013)
}

/// Exports the checkpoint at `checkpoint` (see [`resolve_checkpoint`]) to `out`.
pub fn export(checkpoint: &Path, out: &Path, options: &ExportOptions) -> Result<Exported> {
    let dir = resolve_checkpoint(checkpoint)?;
    let state = checkpoint::read_state(&dir)?;
    let metadata = metadata_for(&state, options.face_template.clone())?;
    let device = Device::flex();
    let config = state.model_config();
    let model = checkpoint::load_model(config.init(&device), &dir.join(checkpoint::MODEL_FILE))?;
    let (bytes, folded) = to_onnx(&model, &config, &metadata, !options.keep_batch_norm, out)?;
    fsutil::write_bytes(out, &bytes)?;
    Ok(Exported {
        checkpoint: dir,
        epoch: state.epoch,
        metadata,
        bytes: bytes.len(),
        folded_batch_norms: folded,
    })
}

/// The ONNX bytes of `model` (on any device, built from `config`) with `metadata`, and the
/// number of BatchNorms folded. `path_for_errors` names the output in errors. `model` itself
/// is left as it is (the export works on a copy with its own BatchNorm statistics: burn's
/// clones share them, and capture moves them to its own device).
pub fn to_onnx(
    model: &Scn,
    config: &ScnConfig,
    metadata: &ModelMetadata,
    fold_batch_norm: bool,
    path_for_errors: &Path,
) -> Result<(Vec<u8>, usize)> {
    let fail = |reason: String| Error::Record {
        path: path_for_errors.to_path_buf(),
        reason,
    };
    let device = Device::flex();
    let model = config
        .init(&device)
        .try_load_record(model.clone().into_record())
        .map_err(|e| fail(format!("the model does not fit its configuration: {e}")))?;
    let (c, s) = (metadata.input.channels as usize, metadata.input.size as usize);
    let sample = Tensor::<4>::zeros([1, c, s, s], &device);
    let validation = Tensor::<4>::zeros([2, c, s, s], &device);
    let spec = InputSpec::new([
        AxisSpec::dynamic("batch"),
        AxisSpec::Static,
        AxisSpec::Static,
        AxisSpec::Static,
    ]);
    let onnx = OnnxExporter::new()
        .export_dynamic(&model, sample, validation, &[spec], |m: &Scn, x| m.forward_pair(x))
        .map_err(|e| fail(format!("ONNX export failed: {e}")))?;
    let mut proto = ModelProto::parse_from_bytes(onnx.as_bytes())
        .map_err(|e| fail(format!("exported ONNX does not parse: {e}")))?;
    name_boundaries(&mut proto).map_err(fail)?;
    scalar_pad_values(&mut proto);
    let folded = if fold_batch_norm {
        fold_batch_norms(&mut proto)
    } else {
        0
    };
    proto.producer_name = "scn".into();
    proto.producer_version = env!("CARGO_PKG_VERSION").into();
    proto.doc_string = format!(
        "Self-Cure Network facial expression classifier ({} classes: {}), trained on {}",
        metadata.classes.len(),
        metadata.classes.join(", "),
        metadata.dataset
    );
    proto.metadata_props.clear();
    for (key, value) in metadata.to_props() {
        proto.metadata_props.push(Default::default());
        if let Some(entry) = proto.metadata_props.last_mut() {
            entry.key = key;
            entry.value = value;
        }
    }
    let bytes = proto
        .write_to_bytes()
        .map_err(|e| fail(format!("ONNX serialization failed: {e}")))?;
    Ok((bytes, folded))
}

/// Names the graph input `image` and the outputs `logits` and `alpha`, everywhere they occur.
fn name_boundaries(proto: &mut ModelProto) -> std::result::Result<(), String> {
    let graph = proto.graph.mut_or_insert_default();
    if graph.input.len() != 1 || graph.output.len() != 2 {
        return Err(format!(
            "expected 1 input and 2 outputs in the exported graph, found {} and {}",
            graph.input.len(),
            graph.output.len()
        ));
    }
    let mut renames = HashMap::new();
    renames.insert(graph.input[0].name.clone(), INPUT_NAME.to_string());
    renames.insert(graph.output[0].name.clone(), LOGITS_NAME.to_string());
    renames.insert(graph.output[1].name.clone(), ALPHA_NAME.to_string());
    let rename = |name: &mut String| {
        if let Some(new) = renames.get(name.as_str()) {
            *name = new.clone();
        }
    };
    for value in graph
        .input
        .iter_mut()
        .chain(graph.output.iter_mut())
        .chain(graph.value_info.iter_mut())
    {
        rename(&mut value.name);
    }
    for node in graph.node.iter_mut() {
        node.input.iter_mut().chain(node.output.iter_mut()).for_each(rename);
    }
    Ok(())
}

/// Makes the `constant_value` input of every Pad node a scalar, as ONNX specifies it: burn's
/// exporter writes a one-element tensor `[1]`, which tract rejects ("inputs[2].rank == 0").
/// Pads come from the face backbone's zero-filled shortcuts.
fn scalar_pad_values(proto: &mut ModelProto) {
    let graph = proto.graph.mut_or_insert_default();
    let values: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Pad")
        .filter_map(|n| n.input.get(2).filter(|v| !v.is_empty()).cloned())
        .collect();
    for tensor in graph.initializer.iter_mut() {
        if values.contains(&tensor.name) && tensor.dims == [1] {
            tensor.dims.clear();
        }
    }
    for node in graph.node.iter_mut().filter(|n| n.op_type == "Constant") {
        if !node.output.iter().any(|o| values.contains(o)) {
            continue;
        }
        for attribute in node.attribute.iter_mut().filter(|a| a.name == "value") {
            if let Some(t) = attribute.t.as_mut()
                && t.dims == [1]
            {
                t.dims.clear();
            }
        }
    }
}

/// What the name of a convolution's weight or bias holds once a BatchNorm has been folded into
/// it (`node_1_folded_weight`).
pub(crate) const FOLDED: &str = "_folded_";

/// The float values of an initializer (raw little-endian data or `float_data`); `None` for
/// other element types.
pub(crate) fn initializer_floats(tensor: &TensorProto) -> Option<Vec<f32>> {
    if tensor.data_type != 1 {
        return None;
    }
    if !tensor.raw_data.is_empty() {
        if !tensor.raw_data.len().is_multiple_of(4) {
            return None;
        }
        return Some(
            tensor
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        );
    }
    Some(tensor.float_data.clone())
}

fn set_floats(tensor: &mut TensorProto, values: &[f32]) {
    tensor.float_data.clear();
    tensor.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into();
}

/// Folds `BatchNormalization(Conv(x, W[, b]))` into `Conv(x, W', b')` where the convolution's
/// output feeds only the BatchNorm and all parameters are initializers. Returns the count.
fn fold_batch_norms(proto: &mut ModelProto) -> usize {
    let graph = proto.graph.mut_or_insert_default();
    let mut uses: HashMap<String, usize> = HashMap::new();
    for node in &graph.node {
        for input in &node.input {
            *uses.entry(input.clone()).or_default() += 1;
        }
    }
    for output in &graph.output {
        *uses.entry(output.name.clone()).or_default() += 1;
    }
    let producer: HashMap<String, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().map(move |o| (o.clone(), i)))
        .collect();
    let init_index: HashMap<String, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();

    let mut removed = vec![false; graph.node.len()];
    let mut folded = 0;
    #[allow(clippy::needless_range_loop)] // `graph.node` is read by index while `removed` is written
    for bn_index in 0..graph.node.len() {
        let bn = &graph.node[bn_index];
        if bn.op_type != "BatchNormalization" || bn.input.len() != 5 || bn.output.len() != 1 {
            continue;
        }
        let Some(&conv_index) = producer.get(&bn.input[0]) else {
            continue;
        };
        let conv = &graph.node[conv_index];
        if conv.op_type != "Conv" || uses.get(&bn.input[0]).copied() != Some(1) {
            continue;
        }
        let epsilon = bn.attribute.iter().find(|a| a.name == "epsilon").map_or(1e-5, |a| a.f);
        let param = |name: &String| {
            init_index
                .get(name)
                .and_then(|&i| initializer_floats(&graph.initializer[i]))
        };
        let (Some(scale), Some(shift), Some(mean), Some(var)) = (
            param(&bn.input[1]),
            param(&bn.input[2]),
            param(&bn.input[3]),
            param(&bn.input[4]),
        ) else {
            continue;
        };
        let Some(&w_index) = init_index.get(&conv.input[1]) else {
            continue;
        };
        let Some(mut weight) = initializer_floats(&graph.initializer[w_index]) else {
            continue;
        };
        let out_channels = scale.len();
        if out_channels == 0
            || weight.len() % out_channels != 0
            || [&shift, &mean, &var].iter().any(|v| v.len() != out_channels)
        {
            continue;
        }
        let old_bias = match conv.input.get(2).filter(|b| !b.is_empty()) {
            Some(b) => match param(b) {
                Some(v) if v.len() == out_channels => Some(v),
                _ => continue,
            },
            None => None,
        };
        let per_channel = weight.len() / out_channels;
        let mut bias = vec![0.0f32; out_channels];
        for o in 0..out_channels {
            let factor = scale[o] / (var[o] + epsilon).sqrt();
            weight[o * per_channel..(o + 1) * per_channel]
                .iter_mut()
                .for_each(|w| *w *= factor);
            let b = old_bias.as_ref().map_or(0.0, |b| b[o]);
            bias[o] = (b - mean[o]) * factor + shift[o];
        }
        // New initializers (the old ones may be shared).
        let weight_name = format!("{}{FOLDED}weight", conv.name);
        let bias_name = format!("{}{FOLDED}bias", conv.name);
        let mut w_tensor = graph.initializer[w_index].clone();
        w_tensor.name = weight_name.clone();
        set_floats(&mut w_tensor, &weight);
        let mut b_tensor = TensorProto::new();
        b_tensor.name = bias_name.clone();
        b_tensor.data_type = 1;
        b_tensor.dims = vec![out_channels as i64];
        set_floats(&mut b_tensor, &bias);
        graph.initializer.push(w_tensor);
        graph.initializer.push(b_tensor);
        let bn_output = graph.node[bn_index].output[0].clone();
        let conv: &mut NodeProto = &mut graph.node[conv_index];
        conv.input.truncate(2);
        conv.input[1] = weight_name;
        conv.input.push(bias_name);
        conv.output[0] = bn_output;
        removed[bn_index] = true;
        folded += 1;
    }
    let mut index = 0;
    graph.node.retain(|_| {
        let keep = !removed[index];
        index += 1;
        keep
    });
    // Drop initializers no node uses any more.
    let used: std::collections::HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    graph.initializer.retain(|t| used.contains(&t.name));
    folded
}
