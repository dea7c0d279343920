//! The `venv` layer: a virtual environment from the stack's Python with the project's
//! requirements installed, reused while the Python version and the requirements (and the
//! vendored wheels) are unchanged; pip's download cache lives in a cache-only layer.

use crate::PythonBuildpack;
use crate::errors::PythonError;
use crate::python::Python;
use libcnb::build::BuildContext;
use libcnb::data::layer_name;
use libcnb::layer::{
    CachedLayerDefinition, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug)]
pub(crate) enum VenvError {
    Hash(std::io::Error),
    Create { command: String, error: String },
    Install { command: String, status: String },
}

/// pip's cache is kept across Python versions of the same major release line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PipCacheMetadata {
    cache_format: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VenvMetadata {
    python_version: String,
    /// Hash of requirements.txt and of the names and sizes in vendor/.
    requirements: String,
}

pub(crate) fn contribute(
    context: &BuildContext<PythonBuildpack>,
    python: &Python,
) -> libcnb::Result<(), PythonError> {
    let app = &context.app_dir;
    let metadata = VenvMetadata {
        python_version: python.version.clone(),
        requirements: requirements_hash(app).map_err(|e| PythonError::Venv(VenvError::Hash(e)))?,
    };
    let pip_cache = context.cached_layer(
        layer_name!("pip-cache"),
        CachedLayerDefinition {
            build: false,
            launch: false,
            invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
            restored_layer_action: &|_: &PipCacheMetadata, _| RestoredLayerAction::KeepLayer,
        },
    )?;
    if matches!(pip_cache.state, LayerState::Empty { .. }) {
        pip_cache.write_metadata(PipCacheMetadata { cache_format: 1 })?;
    }
    let venv = context.cached_layer(
        layer_name!("venv"),
        CachedLayerDefinition {
            build: true,
            launch: true,
            invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
            restored_layer_action: &|cached: &VenvMetadata, _| {
                if cached == &metadata {
                    RestoredLayerAction::KeepLayer
                } else {
                    RestoredLayerAction::DeleteLayer
                }
            },
        },
    )?;
    let venv_dir = venv.path();
    match venv.state {
        LayerState::Restored { .. } => {
            println!("Reusing the cached virtual environment (Python and requirements unchanged).");
        }
        LayerState::Empty { .. } => {
            println!("Creating a virtual environment.");
            let installer = Installer::for_stack(python);
            let mut create = Command::new(&python.path);
            create.args(["-m", "venv"]);
            if installer == Installer::StackPip {
                create.arg("--without-pip");
            }
            run(create.arg(&venv_dir), |command, error| {
                PythonError::Venv(VenvError::Create { command, error })
            })?;
            install_requirements(app, &venv_dir, &pip_cache.path(), installer, python)?;
            compile_bytecode(&venv_dir)?;
            venv.write_metadata(metadata.clone())?;
        }
    }
    // `bin/` of a layer is put on PATH by the lifecycle; VIRTUAL_ENV tells tools which one.
    venv.write_env(LayerEnv::new().chainable_insert(
        Scope::All,
        ModificationBehavior::Override,
        "VIRTUAL_ENV",
        &venv_dir,
    ))?;
    Ok(())
}

/// Which pip installs the requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Installer {
    /// The stack's own pip, into an environment without one (`pip --python`): the image
    /// then holds only the requirements — 1,600 files fewer to restore and export on
    /// every build, and no pip or setuptools for the job's code to use.
    StackPip,
    /// The environment's own pip, for stacks without one (`--python` needs pip 22.3).
    VenvPip,
}

impl Installer {
    fn for_stack(python: &Python) -> Installer {
        let probe = Command::new(&python.path)
            .env_clear()
            .args(["-c", "import pip, sys; sys.exit(tuple(map(int, pip.__version__.split('.')[:2])) < (22, 3))"])
            .output();
        if probe.is_ok_and(|output| output.status.success()) {
            Installer::StackPip
        } else {
            Installer::VenvPip
        }
    }
}

fn install_requirements(
    app: &Path,
    venv: &Path,
    pip_cache: &Path,
    installer: Installer,
    python: &Python,
) -> Result<(), PythonError> {
    let requirements = app.join("requirements.txt");
    if !requirements.is_file() {
        println!("No requirements.txt: nothing to install.");
        return Ok(());
    }
    let mut command = match installer {
        Installer::StackPip => {
            let mut command = Command::new(&python.path);
            command
                .args(["-m", "pip", "--python"])
                .arg(venv.join("bin/python"));
            command
        }
        Installer::VenvPip => Command::new(venv.join("bin/pip")),
    };
    command
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .arg("--cache-dir")
        .arg(pip_cache)
        .arg("--requirement")
        .arg(&requirements);
    let vendor = app.join("vendor");
    if vendor.is_dir() {
        println!("Installing requirements.txt offline from vendor/.");
        command.arg("--no-index").arg("--find-links").arg(&vendor);
    } else {
        println!("Installing requirements.txt from the package index.");
    }
    run(&mut command, |command, status| {
        PythonError::Venv(VenvError::Install { command, status })
    })
}

/// Compiles the environment's bytecode checked by source hash, not by modification time:
/// the lifecycle resets file times when it restores a layer, and time-checked `.pyc` files
/// would then be rewritten on every build (a changed layer) and recompiled on every run
/// (the layer is read-only to the job).
fn compile_bytecode(venv: &Path) -> Result<(), PythonError> {
    run(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "compileall",
                "-q",
                "-f",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
            ])
            .arg(venv.join("lib")),
        |command, error| PythonError::Venv(VenvError::Create { command, error }),
    )
}

/// Runs `command` with a cleared environment (plus what pip needs), output streamed.
fn run(
    command: &mut Command,
    error: impl FnOnce(String, String) -> PythonError,
) -> Result<(), PythonError> {
    command
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    // pip should trust what the stack trusts (its bundled certifi may not).
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if bundle.is_file() {
        command.env("PIP_CERT", bundle).env("SSL_CERT_FILE", bundle);
    }
    // The build runs as the stack's build user; pip needs a HOME it may write to.
    if let Some(home) = std::env::var_os("HOME") {
        command.env("HOME", home);
    }
    let shown = format!("{command:?}");
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(error(shown, status.to_string())),
        Err(io) => Err(error(shown, io.to_string())),
    }
}

fn requirements_hash(app: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    match fs_err::read(app.join("requirements.txt")) {
        Ok(bytes) => hasher.update(&bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => hasher.update(b"none"),
        Err(error) => return Err(error),
    }
    let vendor = app.join("vendor");
    if vendor.is_dir() {
        let mut entries: Vec<(PathBuf, u64)> = fs_err::read_dir(&vendor)?
            .filter_map(Result::ok)
            .map(|entry| (entry.path(), entry.metadata().map_or(0, |m| m.len())))
            .collect();
        entries.sort();
        for (path, size) in entries {
            hasher.update(path.file_name().unwrap_or_default().as_encoded_bytes());
            hasher.update(size.to_le_bytes());
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_follows_requirements_and_vendored_wheels() {
        let app = tempfile::tempdir().expect("temp dir");
        let empty = requirements_hash(app.path()).expect("hash");
        fs_err::write(app.path().join("requirements.txt"), "numpy\n").expect("write");
        let numpy = requirements_hash(app.path()).expect("hash");
        assert_ne!(empty, numpy);
        assert_eq!(
            numpy,
            requirements_hash(app.path()).expect("hash"),
            "stable"
        );
        fs_err::create_dir(app.path().join("vendor")).expect("vendor");
        fs_err::write(app.path().join("vendor/numpy-2.0-cp311.whl"), "wheel").expect("wheel");
        assert_ne!(numpy, requirements_hash(app.path()).expect("hash"));
    }
}
