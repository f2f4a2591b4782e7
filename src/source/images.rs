//! Image files as a stream: the files given, and the images inside the folders given (sorted
//! by name), one frame each.

use std::path::PathBuf;

use super::{Frame, FrameSource, SourceError};

use scn_train::data::{IMAGE_EXTENSIONS, has_image_extension};

/// The image files of `paths`: files as given, folders expanded to their images (sorted).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SourceError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| SourceError::Io {
                path: path.clone(),
                doing: "cannot list the folder",
                source,
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && has_image_extension(p))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(SourceError::File {
                    path: path.clone(),
                    reason: format!("no images ({}) in this folder", IMAGE_EXTENSIONS.join(", ")),
                });
            }
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(SourceError::File {
                path: path.clone(),
                reason: "no such file or folder".into(),
            });
        }
    }
    Ok(files)
}

/// Image files, one frame each. A file that does not decode is skipped with a warning that
/// names it, and counted ([`FrameSource::skipped`]), so that one bad file among many does not
/// stop the others.
#[derive(Debug)]
pub struct ImageFiles {
    files: Vec<PathBuf>,
    next: usize,
    skipped: usize,
}

impl ImageFiles {
    /// The images of `paths` (files, or folders of images).
    pub fn open(paths: &[PathBuf]) -> Result<ImageFiles, SourceError> {
        Ok(ImageFiles {
            files: expand(paths)?,
            next: 0,
            skipped: 0,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FrameSource for ImageFiles {
    fn describe(&self) -> String {
        match self.files.as_slice() {
            [one] => format!("image {}", one.display()),
            many => format!("{} images", many.len()),
        }
    }

    fn fps(&self) -> Option<f64> {
        None
    }

    fn skipped(&self) -> usize {
        self.skipped
    }

    fn next_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        while let Some(path) = self.files.get(self.next) {
            self.next += 1;
            match scn_train::contain::catching_panics("the image decoder", || image::open(path))
                .and_then(|r| r.map_err(|e| e.to_string()))
            {
                Ok(image) => {
                    frame.image = image.into_rgb8();
                    frame.index = (self.next - 1) as u64;
                    frame.time = 0.0;
                    frame.path = Some(path.clone());
                    return Ok(true);
                }
                Err(e) => {
                    log::warn!("{}: cannot decode the image, skipped: {e}", path.display());
                    self.skipped += 1;
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_expand_to_their_sorted_images_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.png", "a.jpg", "notes.txt"] {
            let path = dir.path().join(name);
            if name.ends_with(".txt") {
                std::fs::write(&path, "x").unwrap();
            } else {
                image::RgbImage::new(4, 3).save(&path).unwrap();
            }
        }
        let mut source = ImageFiles::open(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(source.len(), 2);
        let mut frame = Frame::empty();
        assert!(source.next_into(&mut frame).unwrap());
        assert_eq!(frame.path.as_deref(), Some(dir.path().join("a.jpg").as_path()));
        assert_eq!(frame.image.dimensions(), (4, 3));
        assert!(source.next_into(&mut frame).unwrap());
        assert_eq!(frame.index, 1);
        assert!(!source.next_into(&mut frame).unwrap());

        // A file that does not decode is skipped and counted; the next one still comes.
        let broken = dir.path().join("broken.png");
        std::fs::write(&broken, b"not a png").unwrap();
        let good = dir.path().join("b.png");
        let mut source = ImageFiles::open(&[broken.clone(), good.clone()]).unwrap();
        assert!(source.next_into(&mut frame).unwrap());
        assert_eq!(frame.path.as_deref(), Some(good.as_path()));
        assert_eq!((frame.index, source.skipped()), (1, 1));
        assert!(!source.next_into(&mut frame).unwrap());
        let err = ImageFiles::open(&[dir.path().join("missing.png")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.png") && err.contains("no such"), "{err}");
    }
}
