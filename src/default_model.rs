//! Where the default model is found when the user names none: `$SCN_MODEL`, else
//! `models/scn-ferplus.onnx` in the current folder, next to the executable, or in the source
//! tree the executable was built in (`target/release/scn` finds the repository's models/).
//! The repository ships that file (trained on FERPlus; models/README.md has its provenance,
//! metrics and the data's terms).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the default model in models/.
pub const DEFAULT_MODEL: &str = "scn-ferplus.onnx";

/// Environment variable that names the default model.
pub const MODEL_ENV: &str = "SCN_MODEL";

/// The places looked at for the default model, in order.
pub fn default_model_candidates() -> Vec<PathBuf> {
    let mut places = Vec::new();
    if let Some(path) = std::env::var_os(MODEL_ENV) {
        places.push(PathBuf::from(path));
    }
    places.push(Path::new("models").join(DEFAULT_MODEL));
    if let Ok(exe) = std::env::current_exe() {
        // <dir>/models, <dir>/../share/scn/models, and up to three folders up (target/<profile>/).
        let mut dir = exe.parent().map(Path::to_path_buf);
        if let Some(d) = &dir {
            places.push(d.join("../share/scn/models").join(DEFAULT_MODEL));
        }
        for _ in 0..4 {
            let Some(d) = dir else { break };
            places.push(d.join("models").join(DEFAULT_MODEL));
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    places.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(DEFAULT_MODEL));
    let mut seen = std::collections::HashSet::new();
    places.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    places
}

/// The default model: the first candidate that exists, or an error listing where it looked.
pub fn default_model() -> Result<PathBuf> {
    let places = default_model_candidates();
    if let Some(found) = places.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
    Err(Error::InvalidArgument(format!(
        "no model given (--model FILE or ${MODEL_ENV}) and the default model {DEFAULT_MODEL} was not found; \
         it ships in the repository's models/ folder (keep models/ next to the executable, or set \
         ${MODEL_ENV}), or use any model made by `scn export`; looked at: {}",
        looked.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_models_folder_is_a_candidate_and_places_are_not_repeated() {
        let places = default_model_candidates();
        assert!(
            places
                .iter()
                .any(|p| p.ends_with(Path::new("models").join(DEFAULT_MODEL)))
        );
        let unique: std::collections::HashSet<_> = places
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or(p.clone()))
            .collect();
        assert_eq!(unique.len(), places.len(), "{places:?}");
    }
}
