//! Loading a classifier: the ONNX file, its scn.* metadata (or the user's overrides for a model
//! without them), the input layout, and the plans tract compiles at load time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use scn_train::data::input::InputConfig;
use scn_train::metadata::{self, FaceTemplate, MetadataError, ModelMetadata};
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::{Classifier, Layout, OutputKind, model_error};
use crate::error::{Error, IoContext, Result};

/// Values that replace (or, for a model without scn metadata, supply) the model's metadata.
/// Without metadata, `classes` is required; input size and channels are read from the model's
/// input shape when it fixes them; mean and std default to 0.5 for grey input and ImageNet's
/// for RGB; the face template defaults to FER2013's, scaled to the input size.
#[derive(Debug, Clone, Default)]
pub struct ModelOverrides {
    /// Class names in output order.
    pub classes: Option<Vec<String>>,
    /// Input side in pixels.
    pub input_size: Option<u32>,
    /// Input channels (1 or 3).
    pub channels: Option<u32>,
    /// Per-channel mean (after scaling to [0, 1]).
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation.
    pub std: Option<Vec<f32>>,
    /// How faces must be aligned.
    pub face_template: Option<FaceTemplate>,
    /// Input memory order (default: detected from the input shape).
    pub layout: Option<Layout>,
    /// What the class output holds (default: logits, unless the output is named `probs`).
    pub output: Option<OutputKind>,
}

impl ModelOverrides {
    fn is_empty(&self) -> bool {
        self.classes.is_none()
            && self.input_size.is_none()
            && self.channels.is_none()
            && self.mean.is_none()
            && self.std.is_none()
            && self.face_template.is_none()
    }
}

const METADATA_HINT: &str = "; for a model not written by `scn export`, pass --classes (and --input-size, --channels, \
                             --mean, --std where the model's input shape does not fix them)";

impl Classifier {
    /// Loads an ONNX model, reads its metadata (`overrides` replace or supply values) and
    /// prepares it for batches of any size.
    pub fn load(path: impl AsRef<Path>, overrides: &ModelOverrides) -> Result<Classifier> {
        let path = path.as_ref();
        scn_train::contain::catching_panics("tract", || Classifier::load_unguarded(path, overrides))
            .map_err(|reason| model_error(path, reason))?
    }

    /// [`Classifier::load`] without the guard against panics inside tract.
    fn load_unguarded(path: &Path, overrides: &ModelOverrides) -> Result<Classifier> {
        let bytes = std::fs::read(path).at(path)?;
        let proto = tract_onnx::onnx()
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(|e| Error::NotOnnx {
                path: path.to_path_buf(),
                reason: format!("{e:#}"),
            })?;
        let graph = match proto.graph.as_ref() {
            Some(g) if !g.node.is_empty() && !g.input.is_empty() && !g.output.is_empty() => g,
            _ => {
                return Err(Error::NotOnnx {
                    path: path.to_path_buf(),
                    reason: "no graph with nodes, inputs and outputs in the file".into(),
                });
            }
        };
        let output_names: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        let model = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .map_err(|e| model_error(path, format!("tract cannot load this ONNX graph: {e:#}")))?;
        let real_inputs = model.input_outlets().map_err(|e| model_error(path, e))?.len();
        if real_inputs != 1 {
            return Err(model_error(
                path,
                format!("expected one image input, the model has {real_inputs}"),
            ));
        }
        let input_shape = static_input_shape(&model, path)?;
        let (metadata, from_metadata) = read_metadata(&proto, path, overrides, &input_shape)?;
        let (c, s) = (metadata.input.channels as usize, metadata.input.size as usize);
        let layout = match overrides.layout {
            Some(layout) => layout,
            None => detect_layout(&input_shape, c, s).ok_or_else(|| {
                model_error(
                    path,
                    format!(
                        "the model's input shape {} does not match {c} channel(s) of {s}x{s} pixels in NCHW or NHWC order",
                        describe_shape(&input_shape)
                    ),
                )
            })?,
        };
        let output = overrides.output.unwrap_or_else(|| {
            let first = output_names.first().map(|s| s.to_ascii_lowercase()).unwrap_or_default();
            if first.contains("prob") || first.contains("softmax") {
                OutputKind::Probabilities
            } else {
                OutputKind::Logits
            }
        });
        let logits_index = output_names
            .iter()
            .position(|n| n == metadata::LOGITS_NAME || n == "probs" || n == "probabilities")
            .unwrap_or(0);
        let is_baseline = metadata.training.get("baseline").and_then(|b| b.as_bool()) == Some(true);
        let alpha_index = if is_baseline {
            None
        } else {
            output_names
                .iter()
                .position(|n| n == metadata::ALPHA_NAME)
                .or_else(|| (output_names.len() == 2).then_some(1 - logits_index))
        };

        let batch = model.sym("N");
        let fact = |n: TDim| match layout {
            Layout::Nchw => f32::fact([n, c.into(), s.into(), s.into()]),
            Layout::Nhwc => f32::fact([n, s.into(), s.into(), c.into()]),
        };
        let source = model.clone();
        let optimize = |n: TDim| {
            model
                .clone()
                .with_input_fact(0, fact(n).into())
                .and_then(|m| m.into_optimized())
        };
        // One face first, with concrete shapes: its plan is needed anyway, and a face run
        // through it (below) shows a broken graph before the any-batch plan is prepared. On a
        // corrupt graph (a convolution that lost its strides, found by the onnx_model fuzz
        // target) tract accepts both plans; the any-batch one took 15 s of it.
        let single = optimize(1.into())
            .map_err(|e| model_error(path, format!("cannot prepare the model for {c}x{s}x{s} input: {e:#}")))?;
        let classes = single
            .output_fact(logits_index)
            .ok()
            .and_then(|f| f.shape.iter().last().and_then(|d| d.to_i64().ok()));
        if let Some(n) = classes
            && n as usize != metadata.classes.len()
        {
            return Err(model_error(
                path,
                format!(
                    "the model outputs {n} classes, its class list has {}: {}",
                    metadata.classes.len(),
                    metadata.classes.join(", ")
                ),
            ));
        }
        let single = single
            .into_runnable()
            .map_err(|e| model_error(path, format!("{e:#}")))?;
        let fixed = HashMap::from([(1, single.clone())]);
        let mut classifier = Classifier {
            plan: single,
            fixed: Mutex::new(fixed),
            one_by_one: Mutex::new(std::collections::HashSet::new()),
            max_batch: Some(1),
            source,
            metadata,
            path: path.to_path_buf(),
            layout,
            output,
            logits_index,
            alpha_index,
            from_metadata,
            flip: false,
            flip_batch: Mutex::new(Vec::new()),
            balance: None,
        };
        // One face through the network: a graph that tract accepts but cannot run fails here,
        // before the slower preparation for any batch size.
        classifier
            .run(&vec![0.0; classifier.input_len()])
            .map_err(|e| match e {
                Error::Inference(reason) => {
                    let prefix = format!("{}: ", path.display());
                    let reason = reason.strip_prefix(&prefix).unwrap_or(&reason);
                    model_error(path, format!("the network cannot run: {reason}"))
                }
                other => other,
            })?;
        // Any batch size; failing that (graphs that fix the batch in a Reshape), one face at a time.
        match optimize(batch.into()) {
            Ok(typed) => {
                classifier.plan = typed.into_runnable().map_err(|e| model_error(path, format!("{e:#}")))?;
                classifier.max_batch = None;
            }
            Err(any_size) => log::warn!(
                "{}: the graph fixes the batch size ({any_size:#}): faces run one at a time",
                path.display()
            ),
        }
        Ok(classifier)
    }
}

/// The model input's dimensions, `None` where symbolic or unknown.
fn static_input_shape(model: &InferenceModel, path: &Path) -> Result<Vec<Option<usize>>> {
    let fact = model.input_fact(0).map_err(|e| model_error(path, e))?;
    let Some(rank) = fact.shape.rank().concretize().map(|r| r as usize) else {
        // Unknown rank: the user-supplied size decides.
        return Ok(vec![None; 4]);
    };
    if rank != 4 {
        return Err(model_error(
            path,
            format!("the model's input has rank {rank}; an image classifier takes [batch, channels, height, width]"),
        ));
    }
    Ok(fact
        .shape
        .dims()
        .map(|d| {
            d.concretize()
                .and_then(|d| d.to_i64().ok())
                .and_then(|d| usize::try_from(d).ok())
        })
        .collect())
}

fn describe_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

fn detect_layout(shape: &[Option<usize>], channels: usize, size: usize) -> Option<Layout> {
    let fits = |d: Option<usize>, v: usize| d.is_none_or(|d| d == v);
    let nchw = fits(shape[1], channels) && fits(shape[2], size) && fits(shape[3], size);
    let nhwc = fits(shape[1], size) && fits(shape[2], size) && fits(shape[3], channels);
    match (nchw, nhwc) {
        (true, false) => Some(Layout::Nchw),
        (false, true) => Some(Layout::Nhwc),
        // Both fit only when everything is unknown: burn and PyTorch export NCHW.
        (true, true) => Some(Layout::Nchw),
        (false, false) => None,
    }
}

/// The metadata of `proto` with `overrides` applied; `true` when it came from the file.
fn read_metadata(
    proto: &ModelProto,
    path: &Path,
    overrides: &ModelOverrides,
    input_shape: &[Option<usize>],
) -> Result<(ModelMetadata, bool)> {
    let props = proto.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str()));
    let embedded = ModelMetadata::from_props(props);
    let (mut metadata, from_file) = match embedded {
        Ok(m) => (m, true),
        Err(MetadataError::Missing(key)) if !overrides.is_empty() => {
            let Some(classes) = overrides.classes.clone() else {
                return Err(Error::Metadata {
                    path: path.to_path_buf(),
                    problem: MetadataError::Missing(key),
                    hint: "; pass --classes with the class names in output order".into(),
                });
            };
            // Channels and size from the input shape where it fixes them.
            let guess_channels = match (input_shape[1], input_shape[3]) {
                (Some(c @ (1 | 3)), _) => Some(c as u32),
                (_, Some(c @ (1 | 3))) => Some(c as u32),
                _ => None,
            };
            let channels = overrides.channels.or(guess_channels).ok_or_else(|| Error::Metadata {
                path: path.to_path_buf(),
                problem: MetadataError::Missing(key),
                hint: "; the input shape does not fix the channels: pass --channels".into(),
            })?;
            let guess_size = input_shape[2].map(|s| s as u32);
            let size = overrides.input_size.or(guess_size).ok_or_else(|| Error::Metadata {
                path: path.to_path_buf(),
                problem: MetadataError::Missing(key),
                hint: "; the input shape does not fix the size: pass --input-size".into(),
            })?;
            let input = if channels == 1 {
                InputConfig::grey(size)
            } else {
                InputConfig::rgb(size)
            };
            let mut template = FaceTemplate::fer2013();
            let scale = size as f32 / template.size as f32;
            template.size = size;
            template.landmarks.iter_mut().flatten().for_each(|v| *v *= scale);
            template.source = "default: FER2013 crop template (the model has no metadata)".into();
            let metadata = ModelMetadata {
                classes,
                input,
                face_template: template,
                alpha_percentiles: Vec::new(),
                class_prior: Vec::new(),
                dataset: "unknown (no metadata in the model)".into(),
                validation: None,
                test: None,
                training: serde_json::Value::Null,
            };
            (metadata, false)
        }
        Err(source) => {
            return Err(Error::Metadata {
                path: path.to_path_buf(),
                problem: source,
                hint: METADATA_HINT.into(),
            });
        }
    };
    if let Some(classes) = &overrides.classes {
        metadata.classes = classes.clone();
    }
    if let Some(size) = overrides.input_size {
        metadata.input.size = size;
    }
    if let Some(channels) = overrides.channels
        && channels != metadata.input.channels
    {
        let size = metadata.input.size;
        metadata.input = if channels == 1 {
            InputConfig::grey(size)
        } else {
            InputConfig::rgb(size)
        };
    }
    if let Some(mean) = &overrides.mean {
        metadata.input.mean = mean.clone();
    }
    if let Some(std) = &overrides.std {
        metadata.input.std = std.clone();
    }
    if let Some(template) = &overrides.face_template {
        metadata.face_template = template.clone();
    }
    metadata
        .input
        .validate()
        .map_err(|e| Error::InvalidArgument(format!("{}: input settings: {e}", path.display())))?;
    if metadata.classes.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "{}: a classifier needs at least two classes",
            path.display()
        )));
    }
    Ok((metadata, from_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_detection() {
        let s = |v: [usize; 4]| v.iter().map(|&d| Some(d)).collect::<Vec<_>>();
        assert_eq!(detect_layout(&s([1, 1, 48, 48]), 1, 48), Some(Layout::Nchw));
        assert_eq!(detect_layout(&s([1, 64, 64, 1]), 1, 64), Some(Layout::Nhwc));
        assert_eq!(detect_layout(&s([1, 3, 48, 48]), 1, 48), None);
        assert_eq!(detect_layout(&[None; 4], 3, 224), Some(Layout::Nchw));
    }

    /// Found by the `onnx_model` fuzz target: a Gather whose constant index lies far outside
    /// its data (a flipped byte in a model's weights) panics inside tract 0.23.9 while it loads
    /// the graph (gather.rs:75, index out of bounds). Loading must end in an error naming the
    /// file, not take the process down.
    #[test]
    fn a_graph_that_crashes_tract_is_an_error_naming_the_file() {
        use prost::Message;
        use tract_onnx::pb::{self, tensor_shape_proto::Dimension, tensor_shape_proto::dimension, type_proto};
        let image = pb::ValueInfoProto {
            name: "image".into(),
            r#type: Some(pb::TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(pb::TensorShapeProto {
                        dim: [1, 1, 48, 48]
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(dimension::Value::DimValue(d)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let node = |op: &str, inputs: &[&str], output: &str| pb::NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        };
        let model = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(pb::GraphProto {
                name: "gather".into(),
                node: vec![
                    node("Shape", &["image"], "shape"),
                    node("Gather", &["shape", "index"], "logits"),
                ],
                initializer: vec![pb::TensorProto {
                    name: "index".into(),
                    data_type: 7, // int64
                    dims: vec![1],
                    int64_data: vec![-1_441_151_880_758_558_720],
                    ..Default::default()
                }],
                input: vec![image],
                output: vec![pb::ValueInfoProto {
                    name: "logits".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gather.onnx");
        std::fs::write(&path, model.encode_to_vec()).unwrap();
        let overrides = ModelOverrides {
            classes: Some(vec!["a".into(), "b".into()]),
            ..Default::default()
        };
        let err = Classifier::load(&path, &overrides).unwrap_err().to_string();
        assert!(
            err.contains("gather.onnx") && err.contains("tract crashed on it"),
            "{err}"
        );
    }

    #[test]
    fn not_onnx_and_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.onnx");
        let err = Classifier::load(&missing, &ModelOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("nope.onnx"), "{err}");
        let text = dir.path().join("model.onnx");
        std::fs::write(&text, "this is not a model\n").unwrap();
        let err = Classifier::load(&text, &ModelOverrides::default()).unwrap_err();
        assert!(matches!(err, Error::NotOnnx { .. }), "{err}");
        assert!(err.to_string().contains("model.onnx: not an ONNX model"), "{err}");
    }
}
