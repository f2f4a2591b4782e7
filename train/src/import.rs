//! An exported model read back into burn: `scn train --init-from MODEL.onnx` fine-tunes a model
//! that `scn export` wrote (the shipped `models/scn-ferplus.onnx`, or any other) with nothing
//! but the file, as `--init-from RUN` does with a run folder.
//!
//! `scn export` names every initializer after the burn parameter it holds
//! (`face.blocks.0.conv1.weight`, `fc.bias`, ...) and writes the training configuration into
//! the file's metadata (`scn.training`), so both the network and its settings come back exactly.
//! The one exception is a BatchNorm that the export folded into the convolution before it
//! (the default for ResNet-18 backbones): a folded convolution no longer says what its
//! BatchNorm's scale, shift and statistics were, so such a file is refused with a way out
//! (`scn export --keep-batch-norm`). dlib's backbone has no BatchNorm: its exports always load.

use std::path::Path;

use burn::prelude::*;
use burn::store::ModuleSnapshot;
use onnx_ir::{Message, ModelProto};

use crate::config::TrainConfig;
use crate::error::{Error, IoContext, Result};
use crate::export::{FOLDED, initializer_floats};
use crate::metadata::ModelMetadata;
use crate::model::Scn;
use crate::weights::preview;

/// Parameters an exported graph does not hold because SCN's forward pass never uses them:
/// dlib's face-descriptor layer. They keep the values the model had (its own initialisation).
const NOT_EXPORTED: [&str; 1] = ["face.fc.weight"];

/// An exported model's settings, as its metadata records them.
#[derive(Debug, Clone)]
pub struct ExportedModel {
    /// The metadata (classes, input, face template, scores).
    pub metadata: ModelMetadata,
    /// The training configuration of the run it was exported from.
    pub config: TrainConfig,
    /// The parsed file.
    proto: ModelProto,
}

impl ExportedModel {
    /// Reads an ONNX file `scn export` wrote: the graph and its `scn.*` metadata, including
    /// the training configuration.
    pub fn read(path: &Path) -> Result<ExportedModel> {
        let fail = |reason: String| Error::Weights {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).at(path)?;
        let proto = ModelProto::parse_from_bytes(&bytes).map_err(|e| {
            fail(format!(
                "not an ONNX model ({e}): give a model `scn export` wrote, or a run folder"
            ))
        })?;
        let props = proto.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str()));
        let metadata =
            ModelMetadata::from_props(props).map_err(|e| fail(format!("not a model `scn export` wrote: {e}")))?;
        let config = serde_json::from_value::<TrainConfig>(metadata.training.clone()).map_err(|e| {
            fail(format!(
                "its training configuration (metadata scn.training) does not read as one this scn knows: {e}"
            ))
        })?;
        Ok(ExportedModel {
            metadata,
            config,
            proto,
        })
    }

    /// Sets every parameter of `model` (built from [`Self::config`]) from the file's
    /// initializers; returns the model and how many tensors were set. Fails, naming `path`,
    /// when a parameter is missing (folded BatchNorms included) or has another shape.
    pub fn load_into(&self, mut model: Scn, path: &Path) -> Result<(Scn, usize)> {
        let fail = |reason: String| Error::Weights {
            path: path.to_path_buf(),
            reason,
        };
        let tensors: Vec<_> = self
            .proto
            .graph
            .initializer
            .iter()
            .filter_map(|t| {
                let values = initializer_floats(t)?;
                let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
                (shape.iter().product::<usize>() == values.len())
                    .then(|| burn::store::bridge::from_data(TensorData::new(values, shape), t.name.clone(), None))
            })
            .collect();
        let result = model.apply(tensors, None, None, false);
        if let Some(error) = result.errors.first() {
            return Err(fail(format!(
                "its tensors do not fit the network its metadata describes: {error} ({} tensor errors)",
                result.errors.len()
            )));
        }
        let missing: Vec<&str> = result
            .missing
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| !NOT_EXPORTED.contains(p))
            .collect();
        if !missing.is_empty() {
            let folded = self.proto.graph.initializer.iter().any(|t| t.name.contains(FOLDED));
            let hint = if folded {
                "; its BatchNorms were folded into the convolutions when it was exported (the default), which \
                 loses what they were: export the run again with `scn export --keep-batch-norm`, or give \
                 --init-from the run folder"
            } else {
                ""
            };
            return Err(fail(format!(
                "{} parameter(s) of the network are not in the file ({}){hint}",
                missing.len(),
                preview(&missing)
            )));
        }
        Ok((model, result.applied.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint;
    use crate::config::{Backbone, Preset, TrainConfig};
    use crate::data::input::InputConfig;
    use crate::export::to_onnx;
    use crate::metadata::FaceTemplate;

    /// The metadata `scn export` would write for a run of `config`.
    fn metadata(config: &TrainConfig, classes: usize) -> ModelMetadata {
        ModelMetadata {
            classes: (0..classes).map(|i| format!("class{i}")).collect(),
            input: config.input.clone(),
            face_template: FaceTemplate::fer2013(),
            alpha_percentiles: Vec::new(),
            class_prior: Vec::new(),
            dataset: "synthetic".into(),
            validation: None,
            test: None,
            training: serde_json::to_value(config).unwrap(),
        }
    }

    fn parameters(model: &Scn) -> Vec<(String, Vec<f32>)> {
        let mut all: Vec<(String, Vec<f32>)> = model
            .collect(None, None, false)
            .into_iter()
            .map(|t| {
                let name = t.name.clone();
                let data = burn::store::bridge::into_data(t).unwrap();
                (name, data.try_to_vec::<f32>().unwrap())
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn config(backbone: Backbone) -> TrainConfig {
        let mut config = TrainConfig::preset(Preset::Official);
        config.backbone = backbone;
        config.width = 8;
        config.input = match backbone {
            Backbone::Dlib => InputConfig::grey(112),
            _ => InputConfig::grey(32),
        };
        config
    }

    #[test]
    fn an_export_with_its_batch_norms_loads_back_exactly_and_a_folded_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        for backbone in [Backbone::Resnet18, Backbone::Dlib] {
            let config = config(backbone);
            let model_config = checkpoint::model_config(&config, 3);
            let trained = model_config.init(&device);
            let meta = metadata(&config, 3);
            for fold in [false, true] {
                let path = dir.path().join(format!("{backbone:?}-{fold}.onnx"));
                let (bytes, _) = to_onnx(&trained, &model_config, &meta, fold, &path).unwrap();
                std::fs::write(&path, bytes).unwrap();
                let exported = ExportedModel::read(&path).unwrap();
                assert_eq!(exported.config, config);
                assert_eq!(exported.metadata.classes, meta.classes);
                let fresh = checkpoint::model_config(&exported.config, 3).init(&device);
                let loaded = exported.load_into(fresh, &path);
                if fold && backbone == Backbone::Resnet18 {
                    let err = loaded.unwrap_err().to_string();
                    assert!(err.contains("--keep-batch-norm") && err.contains(".onnx"), "{err}");
                    continue;
                }
                let (loaded, applied) = loaded.unwrap();
                assert!(applied > 10, "{applied}");
                let (want, got) = (parameters(&trained), parameters(&loaded));
                let skip = |n: &str| NOT_EXPORTED.contains(&n);
                let want: Vec<_> = want.into_iter().filter(|(n, _)| !skip(n)).collect();
                let got: Vec<_> = got.into_iter().filter(|(n, _)| !skip(n)).collect();
                assert_eq!(want, got, "{backbone:?}, folded {fold}");
            }
        }
    }

    #[test]
    fn files_that_are_not_scn_exports_are_named_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.onnx");
        std::fs::write(&garbage, b"\xff\xff\xff not protobuf").unwrap();
        let err = ExportedModel::read(&garbage).unwrap_err().to_string();
        assert!(
            err.contains("garbage.onnx") && err.contains("not an ONNX model"),
            "{err}"
        );

        // A valid ONNX file without scn's metadata.
        let foreign = dir.path().join("foreign.onnx");
        std::fs::write(&foreign, ModelProto::new().write_to_bytes().unwrap()).unwrap();
        let err = ExportedModel::read(&foreign).unwrap_err().to_string();
        assert!(
            err.contains("foreign.onnx") && err.contains("not a model `scn export` wrote"),
            "{err}"
        );

        let missing = dir.path().join("missing.onnx");
        let err = ExportedModel::read(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.onnx"), "{err}");
    }

    #[test]
    fn a_model_of_other_shapes_than_its_metadata_says_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let config = config(Backbone::Resnet18);
        let model_config = checkpoint::model_config(&config, 3);
        let path = dir.path().join("m.onnx");
        let (bytes, _) = to_onnx(
            &model_config.init(&device),
            &model_config,
            &metadata(&config, 3),
            false,
            &path,
        )
        .unwrap();
        std::fs::write(&path, bytes).unwrap();
        let exported = ExportedModel::read(&path).unwrap();
        let mut wider = exported.config.clone();
        wider.width = 16;
        let err = exported
            .load_into(checkpoint::model_config(&wider, 3).init(&device), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.onnx") && err.contains("do not fit"), "{err}");
    }
}
