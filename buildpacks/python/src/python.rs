//! The stack's own `CPython`.

use std::path::PathBuf;
use std::process::Command;

/// The stack's fixed location for its interpreter.
const STACK_PYTHON: &str = "/usr/bin/python3";

#[derive(Debug)]
pub(crate) struct Python {
    pub(crate) path: PathBuf,
    /// e.g. `Python 3.11.2`.
    pub(crate) version: String,
}

#[derive(Debug)]
pub(crate) enum PythonError {
    Missing {
        path: PathBuf,
        error: std::io::Error,
    },
    Broken {
        path: PathBuf,
        output: String,
    },
}

pub(crate) fn find() -> Result<Python, PythonError> {
    find_at(PathBuf::from(STACK_PYTHON))
}

fn find_at(path: PathBuf) -> Result<Python, PythonError> {
    let output = Command::new(&path)
        .env_clear()
        .arg("--version")
        .output()
        .map_err(|error| PythonError::Missing {
            path: path.clone(),
            error,
        })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || !version.starts_with("Python 3") {
        return Err(PythonError::Broken {
            path,
            output: format!(
                "{version}{}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(Python { path, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_of_a_real_python() {
        let which = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 runs");
        let path = PathBuf::from(String::from_utf8_lossy(&which.stdout).trim());
        let python = find_at(path).expect("a working python");
        assert!(
            python.version.starts_with("Python 3."),
            "{}",
            python.version
        );
    }

    #[test]
    fn a_missing_interpreter_is_an_error() {
        assert!(matches!(
            find_at(PathBuf::from("/nonexistent/python3")),
            Err(PythonError::Missing { .. })
        ));
    }
}
