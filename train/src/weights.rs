//! Pretrained backbone weights: torchvision ImageNet ResNet-18 checkpoints (`.pth`/`.pt` or
//! `.safetensors`), the SCN authors' MS-Celeb-1M checkpoint (`ijba_res18_naive.pth.tar`: a
//! nested `state_dict` with `module.` prefixes) and checkpoints of the official SCN code
//! (`features.0`, `features.4`, ...). Only the backbone is loaded; the heads start fresh.
//!
//! Loading reports how many tensors were applied, which model parameters found nothing and
//! which file tensors were not used, and fails when anything of the backbone is missing unless
//! `allow_partial` is set: the official code loaded nothing from the MS-Celeb checkpoint and
//! said nothing; this does not happen here. For a grey model, a 3-channel stem is converted by
//! summing its weights over the colour channels.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;
use burn::store::{ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore};

use crate::error::{Error, Result};
use crate::model::{FaceResNet, ResNetConfig, Scn};

/// Which weights to start from.
#[derive(Debug, Clone)]
pub struct Pretrained {
    /// The checkpoint file.
    pub path: PathBuf,
    /// Accept a checkpoint that lacks some backbone parameters.
    pub allow_partial: bool,
}

/// What loading did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The checkpoint.
    pub path: PathBuf,
    /// Backbone tensors set from the file.
    pub applied: usize,
    /// Backbone parameters the file had nothing for.
    pub missing: Vec<String>,
    /// File tensors that went nowhere (e.g. the ImageNet classifier), besides BN counters.
    pub unused: Vec<String>,
    /// Whether a 3-channel stem was summed into a grey one.
    pub grey_stem: bool,
}

impl LoadReport {
    /// One line for the log.
    pub fn summary(&self) -> String {
        let mut s = format!("{}: {} backbone tensors loaded", self.path.display(), self.applied);
        if self.grey_stem {
            s.push_str(" (RGB stem summed to grey)");
        }
        if !self.missing.is_empty() {
            s.push_str(&format!(
                ", {} missing ({})",
                self.missing.len(),
                preview(&self.missing)
            ));
        }
        if !self.unused.is_empty() {
            s.push_str(&format!(", {} unused ({})", self.unused.len(), preview(&self.unused)));
        }
        s
    }
}

/// The first four of `names`, comma-separated, with "..." when there are more.
pub(crate) fn preview<S: AsRef<str>>(names: &[S]) -> String {
    let mut shown: Vec<&str> = names.iter().take(4).map(AsRef::as_ref).collect();
    if names.len() > 4 {
        shown.push("...");
    }
    shown.join(", ")
}

/// Key rewrites from the known checkpoint layouts to this model's names.
fn remapper() -> KeyRemapper {
    KeyRemapper::from_patterns(vec![
        (r"^module\.", ""),
        // official SCN: features = Sequential(conv1, bn1, relu, maxpool, layer1..4, avgpool)
        (r"^features\.0\.", "conv1."),
        (r"^features\.1\.", "bn1."),
        (r"^features\.4\.", "layer1."),
        (r"^features\.5\.", "layer2."),
        (r"^features\.6\.", "layer3."),
        (r"^features\.7\.", "layer4."),
        (r"^(conv1|bn1|layer[1-4])\.", "backbone.$1."),
        (r"\.downsample\.0\.", ".downsample.conv."),
        (r"\.downsample\.1\.", ".downsample.bn."),
    ])
    .expect("the patterns are valid regular expressions")
}

/// Applies the backbone tensors of `path` (those `filter` allows) to `model`.
fn apply(model: &mut Scn, path: &Path, filter: &str) -> Result<ApplyResult> {
    let fail = |e: &dyn std::fmt::Display| Error::Weights {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if !path.is_file() {
        return Err(Error::Missing {
            path: path.to_path_buf(),
            what: "pretrained weight file".into(),
        });
    }
    let is_safetensors = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if is_safetensors {
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .remap(remapper())
            .with_regex(filter)
            .map_indices_contiguous(false)
            .validate(false)
            .allow_partial(true);
        return model.load_from(&mut store).map_err(|e| fail(&e));
    }
    let store = |top: Option<&str>| {
        let mut s = PytorchStore::from_file(path)
            .remap(remapper())
            .with_regex(filter)
            .map_indices_contiguous(false)
            .allow_partial(true);
        if let Some(key) = top {
            s = s.with_top_level_key(key);
        }
        s
    };
    // MS-Celeb and most training checkpoints nest the weights in `state_dict`.
    match model.load_from(&mut store(Some("state_dict"))) {
        Ok(result) if !result.applied.is_empty() => Ok(result),
        _ => model.load_from(&mut store(None)).map_err(|e| fail(&e)),
    }
}

/// Loads pretrained backbone weights into `model` (on `device`).
pub fn load_pretrained(mut model: Scn, pretrained: &Pretrained, device: &Device) -> Result<(Scn, LoadReport)> {
    let path = &pretrained.path;
    if let Some(face) = model.face.take() {
        let (face, report) = load_face_resnet(face, path)?;
        model.face = Some(face);
        return Ok((model, report));
    }
    let Some(backbone) = model.backbone.as_ref() else {
        return Err(Error::Weights {
            path: path.clone(),
            reason: "the model has no backbone to load".into(),
        });
    };
    let [_, in_channels, kh, kw] = backbone.conv1.weight.shape().dims();
    let width = backbone.bn1.gamma.shape().dims::<1>()[0];
    let mut result = apply(&mut model, path, r"^backbone\.")?;
    let mut grey_stem = false;
    let stem_mismatch = result
        .errors
        .iter()
        .any(|e| e.to_string().contains("backbone.conv1.weight"));
    // torchvision's stem is 7x7; a grey model with another stem (cifar's 3x3) keeps the error.
    if in_channels == 1 && (kh, kw) == (7, 7) && stem_mismatch {
        // Load the RGB stem into a 3-channel copy and sum it over the colour channels.
        let mut rgb = crate::model::ScnConfig::new(1)
            .with_backbone(ResNetConfig::new().with_in_channels(3).with_width(width))
            .init(device);
        let stem = apply(&mut rgb, path, r"^backbone\.conv1\.weight$")?;
        if stem.applied.iter().any(|p| p == "backbone.conv1.weight")
            && let (Some(rgb), Some(grey)) = (rgb.backbone.as_ref(), model.backbone.as_mut())
        {
            let summed = rgb.conv1.weight.val().sum_dim(1); // [w, 1, 7, 7]
            grey.conv1.weight = Param::from_tensor(summed.detach());
            result
                .errors
                .retain(|e| !e.to_string().contains("backbone.conv1.weight"));
            result.applied.push("backbone.conv1.weight".into());
            result.missing.retain(|(p, _)| p != "backbone.conv1.weight");
            grey_stem = true;
        }
    }
    if let Some(error) = result.errors.first() {
        return Err(Error::Weights {
            path: path.clone(),
            reason: format!("{error} ({} tensor errors)", result.errors.len()),
        });
    }
    let report = LoadReport {
        path: path.clone(),
        applied: result.applied.len(),
        missing: result
            .missing
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| p.starts_with("backbone."))
            .collect(),
        // File tensors nothing matched, and those the backbone filter left out (the classifier).
        unused: result
            .unused
            .iter()
            .chain(&result.skipped)
            .filter(|p| !p.ends_with("num_batches_tracked"))
            .cloned()
            .collect(),
        grey_stem,
    };
    if report.applied == 0 {
        return Err(Error::Weights {
            path: path.clone(),
            reason: format!(
                "no tensor of the file matches the ResNet-18 backbone (file tensors: {}). Expected torchvision \
                 names (conv1.weight, layer1.0.conv1.weight, ...), with or without 'module.' prefixes",
                preview(&report.unused)
            ),
        });
    }
    if !report.missing.is_empty() && !pretrained.allow_partial {
        return Err(Error::Weights {
            path: path.clone(),
            reason: format!(
                "{} backbone parameters are not in the file ({}); --allow-partial trains them from scratch",
                report.missing.len(),
                preview(&report.missing)
            ),
        });
    }
    Ok((model, report))
}

/// Loads dlib's face-recognition ResNet from face-api.js's weights manifest (see
/// [`crate::face_api`]) or from dlib's own `.dat` file (see [`crate::dlib_dat`]). Every layer
/// must be in the file (the descriptor's `fc` too).
pub fn load_face_resnet(face: FaceResNet, path: &Path) -> Result<(FaceResNet, LoadReport)> {
    let map = if path.extension().is_some_and(|e| e == "json") {
        crate::face_api::WeightMap::read(path)?
    } else {
        crate::dlib_dat::read(path)?
    };
    let grey_stem = face.stem.weight.dims()[1] == 1;
    let (face, unused) = map.load_into(face)?;
    let applied = map.tensors.len() - unused.len();
    Ok((
        face,
        LoadReport {
            path: path.to_path_buf(),
            applied,
            missing: Vec::new(),
            unused,
            grey_stem,
        },
    ))
}
