//! The Python side of the runner (`shim.py`), and how it is started.
//!
//! Compiling the shim's source costs `CPython` about 1.5 ms, on every job. An image
//! therefore carries it installed ([`install`], at build time): `jobwrap_shim.py` and its
//! bytecode in `__pycache__`, checked against the source's hash (build tools reset file
//! times, so timestamps cannot be trusted). The runner imports it from there when
//! `JOBWRAP_SHIM_DIR` holds exactly its own shim, and passes the source with `-c`
//! otherwise.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shim's source, as the runner was built with it.
pub const SOURCE: &str = include_str!("shim.py");
const MODULE_FILE: &str = "jobwrap_shim.py";
/// Imports the installed shim; `JOBWRAP_SHIM_DIR` leaves the job's environment here.
const BOOTSTRAP: &str =
    "import os, sys; sys.path[0] = os.environ.pop('JOBWRAP_SHIM_DIR'); import jobwrap_shim";
/// Writes the bytecode next to the source, validated by the source's hash.
const COMPILE: &str = "import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True, \
                       invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)";

/// Where the job's Python takes the shim from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shim {
    /// The source itself, compiled on every start.
    Inline,
    /// A folder holding this runner's shim, installed with its bytecode.
    Installed(PathBuf),
}

impl Shim {
    /// The installed shim in `dir` if it is this runner's own, else the inline one.
    pub(crate) fn locate(dir: Option<&Path>) -> Shim {
        let Some(dir) = dir else {
            return Shim::Inline;
        };
        match std::fs::read(dir.join(MODULE_FILE)) {
            Ok(source) if source == SOURCE.as_bytes() => Shim::Installed(dir.to_owned()),
            Ok(_) => {
                crate::log::warn(format_args!(
                    "the shim in {} is not this runner's (installed by another jobwrap \
                     version?); using the built-in one. Rebuild the image, or run \
                     `jobwrap-runner --install-shim {0}`",
                    dir.display()
                ));
                Shim::Inline
            }
            Err(error) => {
                crate::log::warn(format_args!(
                    "cannot read the shim in {} ({error}); using the built-in one",
                    dir.display()
                ));
                Shim::Inline
            }
        }
    }

    /// Makes `command` (the job's Python) run this shim.
    pub(crate) fn arguments(&self, command: &mut Command) {
        match self {
            Shim::Inline => command.arg("-c").arg(SOURCE),
            Shim::Installed(dir) => command
                .arg("-c")
                .arg(BOOTSTRAP)
                .env("JOBWRAP_SHIM_DIR", dir),
        };
    }
}

#[derive(Debug)]
pub enum InstallError {
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    PythonMissing {
        python: String,
        error: std::io::Error,
    },
    Compile {
        python: String,
        stderr: String,
    },
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::Write { path, error } => write!(
                f,
                "cannot write the shim to {}: {error}; the folder must be writable while the \
                 image is built",
                path.display()
            ),
            InstallError::PythonMissing { python, error } => write!(
                f,
                "cannot start {python} to compile the shim: {error}; install CPython (3.7 or \
                 newer) before the runner, or set JOBWRAP_PYTHON"
            ),
            InstallError::Compile { python, stderr } => write!(
                f,
                "{python} could not compile the shim: {stderr}; jobwrap needs CPython 3.7 or newer"
            ),
        }
    }
}

impl std::error::Error for InstallError {}

/// Installs the shim and its bytecode for `python` into `dir` (replacing what is
/// there, so no bytecode of another Python version lingers). `path` is the `PATH` to
/// find `python` on; nothing else of the environment reaches it.
///
/// # Errors
///
/// When `dir` cannot be written, or `python` cannot be started or cannot compile.
pub fn install(dir: &Path, python: &OsStr, path: Option<&OsStr>) -> Result<(), InstallError> {
    let write = |path: &Path, error| InstallError::Write {
        path: path.to_owned(),
        error,
    };
    match fs_err::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(write(dir, error));
        }
        _ => {}
    }
    fs_err::create_dir_all(dir).map_err(|error| write(dir, error))?;
    let module = dir.join(MODULE_FILE);
    fs_err::write(&module, SOURCE).map_err(|error| write(&module, error))?;

    let mut command = Command::new(python);
    // -I: no PYTHON* variables, no working directory on sys.path; -S: no site-packages,
    // whose `.pth` files (the project's dependencies) would run code here.
    command
        .env_clear()
        .args(["-I", "-S", "-c", COMPILE])
        .arg(&module);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let output = command
        .output()
        .map_err(|error| InstallError::PythonMissing {
            python: python.to_string_lossy().into_owned(),
            error,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(InstallError::Compile {
            python: python.to_string_lossy().into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python() -> &'static OsStr {
        OsStr::new("python3")
    }

    #[test]
    fn an_installed_shim_has_checked_bytecode_and_is_used() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shim = dir.path().join("shim");
        install(&shim, python(), std::env::var_os("PATH").as_deref()).expect("installs");
        let cache: Vec<_> = fs_err::read_dir(shim.join("__pycache__"))
            .expect("bytecode folder")
            .map(|entry| entry.expect("entry").path())
            .collect();
        assert_eq!(cache.len(), 1, "{cache:?}");
        let header = fs_err::read(&cache[0]).expect("bytecode");
        // PEP 552 flags: 0b11 = hash-based, checked against the source.
        assert_eq!(header[4..8], [3, 0, 0, 0]);
        assert_eq!(Shim::locate(Some(&shim)), Shim::Installed(shim.clone()));
    }

    #[test]
    fn installing_again_replaces_stale_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stale = dir.path().join("__pycache__/jobwrap_shim.cpython-30.pyc");
        fs_err::create_dir_all(stale.parent().expect("parent")).expect("mkdir");
        fs_err::write(&stale, "old").expect("write");
        install(dir.path(), python(), std::env::var_os("PATH").as_deref()).expect("installs");
        assert!(!stale.exists());
    }

    #[test]
    fn another_runners_shim_or_none_falls_back_to_the_inline_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(Shim::locate(None), Shim::Inline);
        assert_eq!(Shim::locate(Some(dir.path())), Shim::Inline);
        fs_err::write(dir.path().join(MODULE_FILE), "print('other')").expect("write");
        assert_eq!(Shim::locate(Some(dir.path())), Shim::Inline);
    }

    #[test]
    fn a_missing_python_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error =
            install(dir.path(), OsStr::new("/nonexistent/python3"), None).expect_err("no python");
        assert!(
            error.to_string().contains("/nonexistent/python3"),
            "{error}"
        );
    }
}
