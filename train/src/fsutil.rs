//! Files that are never half-written: everything a run saves (noisy label files, checkpoints,
//! metrics) goes to a temporary name in the same folder, is flushed to disk, and only then
//! renamed into place. A full disk or a crash leaves the previous version intact.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, IoError, Result};

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_of(path).join(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `path` through a temporary file renamed into place once complete and synced.
pub fn write_atomically(path: &Path, body: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let dir = parent_of(path);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let tmp = temp_name(path);
    // Errors name the file being written, not its temporary name.
    let result = (|| {
        let mut out = BufWriter::new(File::create(&tmp).at(path)?);
        body(&mut out)?;
        let file = out.into_inner().map_err(|e| IoError::new(path, e.into_error()))?;
        file.sync_all().at(path)?;
        Ok(std::fs::rename(&tmp, path).at(path)?)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes bytes to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |out| Ok(out.write_all(bytes).at(path)?))
}

/// Builds the folder `path` from `files` (name, bytes) under a temporary name, then renames it
/// into place, replacing an older folder of that name. The older folder is first renamed aside
/// (see [`recover_dir`]), so that at every moment one complete version exists.
pub fn write_dir_atomically(path: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    let tmp = temp_name(path);
    let old = aside_name(path);
    let result = (|| {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        std::fs::create_dir_all(&tmp).at(path)?;
        for (name, bytes) in files {
            // Errors name the file being written, not its temporary name.
            let (file_path, named) = (tmp.join(name), path.join(name));
            let mut file = File::create(&file_path).at(&named)?;
            file.write_all(bytes).at(&named)?;
            file.sync_all().at(&named)?;
        }
        if path.exists() {
            if old.exists() {
                std::fs::remove_dir_all(&old).at(&old)?;
            }
            std::fs::rename(path, &old).at(path)?;
        }
        std::fs::rename(&tmp, path).at(path)?;
        if old.exists() {
            std::fs::remove_dir_all(&old).at(&old)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        recover_dir(path);
    }
    result
}

/// Where [`write_dir_atomically`] keeps the older version of a folder while it swaps the new
/// one in.
fn aside_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_of(path).join(format!(".{name}.old"))
}

/// Puts back the older version of a folder that a crash caught between the two renames of
/// [`write_dir_atomically`] (`path` gone, its older version aside). Call it before reading
/// a folder written that way; it does nothing otherwise.
pub fn recover_dir(path: &Path) {
    let old = aside_name(path);
    if !path.exists() && old.is_dir() {
        match std::fs::rename(&old, path) {
            Ok(()) => log::warn!(
                "{}: restored the previous version (a run was interrupted while replacing it)",
                path.display()
            ),
            Err(e) => log::warn!("{}: cannot restore it from {}: {e}", path.display(), old.display()),
        }
    }
}

/// Free bytes on the file system holding `path` (`None` where it cannot be asked).
pub fn free_space(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: c_path is a valid NUL-terminated string and stat a writable statvfs.
        let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
        (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Checks, before any long work, that `dir` can be created and written and has room for
/// `needed` bytes; the error says which folder and how much is missing.
pub fn ensure_writable(dir: &Path, needed: u64) -> Result<()> {
    std::fs::create_dir_all(dir).at(dir)?;
    let probe = dir.join(format!(".scn-write-test-{}", std::process::id()));
    let written = (|| {
        let mut f = File::create(&probe)?;
        f.write_all(&[0u8; 4096])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&probe);
    written.at(dir)?;
    if let Some(free) = free_space(dir)
        && free < needed
    {
        return Err(IoError::new(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!(
                    "only {:.1} MB free, checkpoints need about {:.1} MB",
                    free as f64 / 1e6,
                    needed as f64 / 1e6
                ),
            ),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_bytes(&path, b"old").unwrap();
        let err = write_atomically(&path, |out| {
            out.write_all(b"half").unwrap();
            Err(crate::Error::InvalidArgument("disk full".into()))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_folder_caught_between_its_renames_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("best");
        write_dir_atomically(&path, &[("a", b"1")]).unwrap();
        // A crash after the old version was renamed aside, before the new one came in.
        std::fs::rename(&path, aside_name(&path)).unwrap();
        recover_dir(&path);
        assert_eq!(std::fs::read(path.join("a")).unwrap(), b"1");
        write_dir_atomically(&path, &[("a", b"2")]).unwrap();
        assert_eq!(std::fs::read(path.join("a")).unwrap(), b"2");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["best"], "nothing left aside");
    }

    #[test]
    fn folders_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt");
        write_dir_atomically(&path, &[("a", b"1"), ("b", b"2")]).unwrap();
        write_dir_atomically(&path, &[("a", b"3")]).unwrap();
        assert_eq!(std::fs::read(path.join("a")).unwrap(), b"3");
        assert!(!path.join("b").exists());
    }

    #[test]
    fn unwritable_or_full_targets_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_writable(&dir.path().join("out"), 1).is_ok());
        let err = crate::error::report(&ensure_writable(&dir.path().join("out"), u64::MAX).unwrap_err());
        assert!(err.contains("MB free"), "{err}");
        // A path under a file cannot be a folder.
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(ensure_writable(&file.join("out"), 1).is_err());
        assert!(free_space(dir.path()).unwrap() > 0);
    }
}
