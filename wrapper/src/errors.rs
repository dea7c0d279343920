//! The runner's failures before the user's code runs, and how each is reported.

use crate::config::ConfigError;
use crate::inputs::InputError;
use crate::outcome::{JobExit, Outcome};
use std::ffi::OsString;

#[derive(Debug)]
pub(crate) enum RunnerError {
    Config(ConfigError),
    Input(InputError),
    AppDir {
        path: std::path::PathBuf,
        error: Option<std::io::Error>,
    },
    PrivateTemp(std::io::Error),
    Channel(nix::Error),
    Sandbox(crate::sandbox::SandboxError),
    Spawn {
        python: OsString,
        error: std::io::Error,
    },
}

impl RunnerError {
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            RunnerError::Input(error) => {
                Outcome::failed(JobExit::InvalidInput, "input", error.to_string())
            }
            RunnerError::Config(error) => Outcome::failed(
                JobExit::WrapperFailed,
                "wrapper",
                format!("the runner's configuration is invalid: {error}"),
            ),
            RunnerError::AppDir { path, error } => Outcome::failed(
                JobExit::WrapperFailed,
                "wrapper",
                format!(
                    "the app directory {} {}; set JOBWRAP_APP_DIR (or CNB_APP_DIR) to the folder \
                     holding the project's src/",
                    path.display(),
                    error.as_ref().map_or_else(
                        || "is not a directory".to_owned(),
                        |e| format!("cannot be used: {e}")
                    )
                ),
            ),
            RunnerError::PrivateTemp(error) => Outcome::failed(
                JobExit::WrapperFailed,
                "wrapper",
                format!(
                    "cannot create the job's private temporary folder: {error}; give the \
                     container a writable /tmp (or set TMPDIR to a writable folder)"
                ),
            ),
            RunnerError::Sandbox(error) => {
                Outcome::failed(JobExit::WrapperFailed, "sandbox", error.to_string())
            }
            RunnerError::Channel(error) => Outcome::failed(
                JobExit::WrapperFailed,
                "wrapper",
                format!("cannot create the result channel: {error}"),
            ),
            RunnerError::Spawn { python, error } => Outcome::failed(
                JobExit::WrapperFailed,
                "wrapper",
                format!(
                    "cannot start {}: {error}; the image needs CPython on PATH (the builder's \
                     Python buildpack provides it) or JOBWRAP_PYTHON naming the interpreter",
                    python.to_string_lossy()
                ),
            ),
        }
    }
}
