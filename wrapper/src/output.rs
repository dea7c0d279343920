//! The output folder: `output.json` and `status.json`, written only by the runner after
//! every job process has ended, and atomically, so nothing a job left there is followed.

use nix::fcntl::{OFlag, open, openat, renameat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub(crate) const RESULT_FILE: &str = "output.json";
pub(crate) const STATUS_FILE: &str = "status.json";

/// The open output folder (by descriptor, so a path swapped later is not followed).
#[derive(Debug)]
pub(crate) struct OutputDir {
    dir: OwnedFd,
    path: PathBuf,
}

impl OutputDir {
    /// Creates the folder if needed, opens it and removes results of an earlier run.
    pub(crate) fn prepare(path: &Path) -> std::io::Result<Self> {
        fs_err::create_dir_all(path)?;
        let dir = open(
            path,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| with_path(errno, path))?;
        let output = OutputDir {
            dir,
            path: path.to_owned(),
        };
        for name in [RESULT_FILE, STATUS_FILE] {
            match unlinkat(&output.dir, name, UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
                Err(errno) => return Err(with_path(errno, &path.join(name))),
            }
        }
        Ok(output)
    }

    /// Writes `name` whole or not at all: a fresh file renamed over the old name.
    pub(crate) fn write(&self, name: &str, contents: &[u8]) -> std::io::Result<()> {
        let temporary = format!(".{name}.{}.tmp", std::process::id());
        let _ = unlinkat(&self.dir, temporary.as_str(), UnlinkatFlags::NoRemoveDir);
        let fd = openat(
            &self.dir,
            temporary.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(|errno| with_path(errno, &self.path.join(&temporary)))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("{}: {error}", self.path.join(&temporary).display()),
                )
            })?;
        renameat(&self.dir, temporary.as_str(), &self.dir, name)
            .map_err(|errno| with_path(errno, &self.path.join(name)))?;
        Ok(())
    }
}

fn with_path(errno: nix::errno::Errno, path: &Path) -> std::io::Error {
    let error = std::io::Error::from(errno);
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_planted_symlink_instead_of_following_it() {
        let root = tempfile::tempdir().expect("temp dir");
        let victim = root.path().join("victim");
        fs_err::write(&victim, "untouched").expect("victim");
        let out = root.path().join("out");
        fs_err::create_dir(&out).expect("out");
        std::os::unix::fs::symlink(&victim, out.join(RESULT_FILE)).expect("symlink");

        let output = OutputDir::prepare(&out).expect("prepare");
        std::os::unix::fs::symlink(&victim, out.join(RESULT_FILE)).expect("planted again");
        output.write(RESULT_FILE, b"{}").expect("write");

        assert_eq!(
            fs_err::read_to_string(&victim).expect("victim"),
            "untouched"
        );
        let written = out.join(RESULT_FILE);
        assert!(fs_err::symlink_metadata(&written).expect("meta").is_file());
        assert_eq!(fs_err::read_to_string(&written).expect("result"), "{}");
    }

    #[test]
    fn removes_stale_results_when_prepared() {
        let root = tempfile::tempdir().expect("temp dir");
        fs_err::write(root.path().join(STATUS_FILE), "old").expect("stale");
        OutputDir::prepare(root.path()).expect("prepare");
        assert!(!root.path().join(STATUS_FILE).exists());
    }
}
