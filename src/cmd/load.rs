//! Loading the classifier and the face detector from the arguments that the commands share.

use anyhow::{Context, Result, anyhow, bail};
use scn::classifier::{Classifier, Layout, ModelOverrides, OutputKind};

use crate::cli::{DetectorArg, ModelArgs};

/// The overrides the arguments ask for.
pub fn overrides(args: &ModelArgs) -> Result<ModelOverrides> {
    let layout = args.layout.map(Layout::from);
    if let Some(classes) = &args.classes
        && classes.iter().any(|c| c.trim().is_empty())
    {
        return Err(anyhow!("--classes has an empty name"));
    }
    Ok(ModelOverrides {
        classes: args
            .classes
            .as_ref()
            .map(|c| c.iter().map(|s| s.trim().to_string()).collect()),
        input_size: args.input_size,
        channels: args.channels,
        mean: args.mean.clone(),
        std: args.std.clone(),
        face_template: None,
        layout,
        output: args.probabilities.then_some(OutputKind::Probabilities),
    })
}

/// Loads the model the arguments name (the default model if they name none).
pub fn classifier(args: &ModelArgs) -> Result<Classifier> {
    let path = match &args.model {
        Some(path) => path.clone(),
        None => scn::default_model::default_model()?,
    };
    let mut classifier = Classifier::load(&path, &overrides(args)?)
        .with_context(|| format!("cannot load the model {}", path.display()))?;
    if args.flip {
        classifier
            .set_flip_averaging(true)
            .with_context(|| format!("cannot prepare {} for flip averaging", path.display()))?;
    }
    if args.balance != 0.0 {
        classifier
            .set_balance(args.balance)
            .with_context(|| format!("cannot balance {} (--balance {})", path.display(), args.balance))?;
    }
    let m = classifier.metadata();
    let settings: String = settings(args.flip, args.balance)
        .iter()
        .map(|s| format!("; {s}"))
        .collect();
    log::info!(
        "model {}: {} classes ({}), input {}x{}x{}, trained on {}{settings}",
        path.display(),
        m.classes.len(),
        m.classes.join(", "),
        m.input.channels,
        m.input.size,
        m.input.size,
        m.dataset,
    );
    Ok(classifier)
}

/// What `--flip` and `--balance` change about each classification, in words (empty: neither).
pub fn settings(flip: bool, balance: f32) -> Vec<String> {
    let mut said = Vec::new();
    if flip {
        said.push("faces averaged with their mirror images (--flip)".to_string());
    }
    if balance != 0.0 {
        said.push(format!("classes balanced by the training prior (--balance {balance})"));
    }
    said
}

/// The face detector (MTCNN or RetinaFace, built into the binary) with the given smallest face
/// and last-stage threshold, as `scn run` and `scn predict` use it.
pub fn detector(kind: DetectorArg, min_face: f32, face_threshold: f32) -> Result<scn::face::Detector> {
    if !(0.0..=1.0).contains(&face_threshold) {
        bail!("--face-threshold must be within 0-1, got {face_threshold}");
    }
    let kind = scn::face::DetectorKind::from(kind);
    log::debug!("face detector: {}", kind.name());
    Ok(scn::face::Detector::embedded(kind, min_face, face_threshold)?)
}
