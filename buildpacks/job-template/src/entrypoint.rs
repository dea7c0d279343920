//! Checks at build time that the entry point exists, compiles and can be called the
//! way the runner calls it, by reading the source with the build's Python (never importing
//! it, which would run the user's code).

use libcnb::Env;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHECKER: &str = include_str!("checker.py");

#[derive(Debug)]
pub(crate) enum EntrypointError {
    ModuleMissing {
        entrypoint: String,
        looked_for: Vec<PathBuf>,
    },
    Syntax {
        file: PathBuf,
        line: Option<u64>,
        column: Option<u64>,
        text: String,
        message: String,
    },
    FunctionMissing {
        entrypoint: String,
        file: PathBuf,
        function: String,
    },
    Signature {
        file: PathBuf,
        line: u64,
        function: String,
        signature: String,
    },
    PythonMissing(std::io::Error),
    CheckerFailed(String),
}

#[derive(serde::Deserialize)]
struct Report {
    problem: Option<String>,
    line: Option<u64>,
    column: Option<u64>,
    text: Option<String>,
    message: Option<String>,
    signature: Option<String>,
}

pub(crate) fn check(app_dir: &Path, entrypoint: &str, env: &Env) -> Result<(), EntrypointError> {
    let (module, function) = entrypoint.split_once(':').unwrap_or((entrypoint, "run"));
    let relative: PathBuf = module.split('.').collect();
    let candidates = vec![relative.with_extension("py"), relative.join("__init__.py")];
    let Some(file) = candidates
        .iter()
        .find(|file| app_dir.join(file).is_file())
        .cloned()
    else {
        return Err(EntrypointError::ModuleMissing {
            entrypoint: entrypoint.to_owned(),
            looked_for: candidates,
        });
    };

    let mut command = Command::new("python3");
    command
        .env_clear()
        // -B: the check must not leave bytecode in the app or in the (cached) layers.
        .args(["-I", "-B", "-c", CHECKER])
        .arg(app_dir.join(&file))
        .arg(function)
        .current_dir(app_dir);
    if let Some(path) = env.get("PATH") {
        command.env("PATH", path);
    }
    let output = command.output().map_err(EntrypointError::PythonMissing)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Report = serde_json::from_str(stdout.trim()).map_err(|_| {
        EntrypointError::CheckerFailed(format!(
            "{}{}",
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    })?;
    match report.problem.as_deref() {
        None => Ok(()),
        Some("syntax") => Err(EntrypointError::Syntax {
            file,
            line: report.line,
            column: report.column,
            text: report.text.unwrap_or_default(),
            message: report.message.unwrap_or_default(),
        }),
        Some("missing") => Err(EntrypointError::FunctionMissing {
            entrypoint: entrypoint.to_owned(),
            file,
            function: function.to_owned(),
        }),
        Some("signature") => Err(EntrypointError::Signature {
            file,
            line: report.line.unwrap_or_default(),
            function: function.to_owned(),
            signature: report.signature.unwrap_or_default(),
        }),
        Some(other) => Err(EntrypointError::CheckerFailed(format!(
            "unknown problem {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(program: &str) -> tempfile::TempDir {
        let app = tempfile::tempdir().expect("temp dir");
        fs_err::create_dir_all(app.path().join("src")).expect("src");
        fs_err::write(app.path().join("src/program.py"), program).expect("program");
        app
    }

    fn check_program(program: &str) -> Result<(), EntrypointError> {
        check(app(program).path(), "src.program:run", &Env::from_current())
    }

    #[test]
    fn accepts_each_calling_style() {
        for program in [
            "def run(data, params):\n    return 1\n",
            "def run(data=None, params=None):\n    pass\n",
            "def run(**kwargs):\n    pass\n",
            "def run(*, data, params):\n    pass\n",
            "def run(a, b):\n    pass\n",
            "async def run(data, params):\n    pass\n",
            "from os.path import join as run\n",
            "run = lambda data, params: 1\n",
        ] {
            assert!(check_program(program).is_ok(), "{program}");
        }
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        match check_program("import os\n\ndef run(data, params)\n    return 1\n") {
            Err(EntrypointError::Syntax {
                file, line, text, ..
            }) => {
                assert_eq!(file, PathBuf::from("src/program.py"));
                assert_eq!(line, Some(3));
                assert_eq!(text, "def run(data, params)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_function_or_module_is_named() {
        assert!(matches!(
            check_program("def main(data, params):\n    pass\n"),
            Err(EntrypointError::FunctionMissing { .. })
        ));
        let empty = tempfile::tempdir().expect("temp dir");
        match check(empty.path(), "src.program:run", &Env::from_current()) {
            Err(EntrypointError::ModuleMissing { looked_for, .. }) => {
                assert_eq!(
                    looked_for,
                    [
                        PathBuf::from("src/program.py"),
                        PathBuf::from("src/program/__init__.py")
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_package_module_is_found() {
        let app = tempfile::tempdir().expect("temp dir");
        fs_err::create_dir_all(app.path().join("jobs/solver")).expect("dirs");
        fs_err::write(
            app.path().join("jobs/solver/__init__.py"),
            "def solve(data, params): pass\n",
        )
        .expect("init");
        assert!(check(app.path(), "jobs.solver:solve", &Env::from_current()).is_ok());
    }

    #[test]
    fn a_signature_the_runner_cannot_call_is_refused() {
        match check_program("def run(data):\n    pass\n") {
            Err(EntrypointError::Signature {
                line, signature, ..
            }) => {
                assert_eq!(line, 1);
                assert_eq!(signature, "data");
            }
            other => panic!("{other:?}"),
        }
    }
}
