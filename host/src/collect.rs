//! Reads what the job left in its output folder. The folder was writable by the job, so
//! every file is opened without following links, must be a regular file, and is bounded.

use serde_json::Value;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Larger than the runner's default result cap, so the runner's own limit decides.
pub(crate) const MAX_RESULT_BYTES: u64 = 80 * 1024 * 1024;

#[derive(Debug)]
pub(crate) enum CollectError {
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    NotRegular(PathBuf),
    TooLarge {
        path: PathBuf,
        limit: u64,
    },
    NotJson {
        path: PathBuf,
        error: serde_json::Error,
    },
}

/// `Ok(None)` when the job wrote no such file.
pub(crate) fn read_json(dir: &Path, name: &str, limit: u64) -> Result<Option<Value>, CollectError> {
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(&path);
    let file = match file {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(CollectError::Open { path, error }),
    };
    let metadata = file.metadata().map_err(|error| CollectError::Open {
        path: path.clone(),
        error,
    })?;
    if !metadata.is_file() {
        return Err(CollectError::NotRegular(path));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| CollectError::Open {
            path: path.clone(),
            error,
        })?;
    if bytes.len() as u64 > limit {
        return Err(CollectError::TooLarge { path, limit });
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| CollectError::NotJson { path, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_json_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs_err::write(dir.path().join("output.json"), r#"{"a": 1}"#).expect("write");
        let value = read_json(dir.path(), "output.json", 100).expect("reads");
        assert_eq!(value, Some(serde_json::json!({"a": 1})));
        assert!(
            read_json(dir.path(), "status.json", 100)
                .expect("absent")
                .is_none()
        );
    }

    #[test]
    fn refuses_links_special_files_and_oversized_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("output.json")).expect("symlink");
        assert!(matches!(
            read_json(dir.path(), "output.json", 100),
            Err(CollectError::Open { .. })
        ));
        nix::unistd::mkfifo(
            &dir.path().join("status.json"),
            nix::sys::stat::Mode::S_IRWXU,
        )
        .expect("fifo");
        assert!(matches!(
            read_json(dir.path(), "status.json", 100),
            Err(CollectError::NotRegular(_))
        ));
        fs_err::write(dir.path().join("big.json"), "[1,2,3,4,5]").expect("write");
        assert!(matches!(
            read_json(dir.path(), "big.json", 5),
            Err(CollectError::TooLarge { .. })
        ));
        fs_err::write(dir.path().join("bad.json"), "{oops").expect("write");
        assert!(matches!(
            read_json(dir.path(), "bad.json", 100),
            Err(CollectError::NotJson { .. })
        ));
    }
}
