//! The launch layer `runner`: jobwrap's runner binary (shipped inside this buildpack),
//! cached while the binary is unchanged, its Python shim compiled by the image's Python,
//! and the launch environment that configures it.

use crate::JobTemplateBuildpack;
use crate::errors::JobTemplateError;
use job_template_buildpack::config::Settings;
use libcnb::Env;
use libcnb::build::BuildContext;
use libcnb::data::layer_name;
use libcnb::layer::{
    CachedLayerDefinition, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

#[derive(Debug)]
pub(crate) enum RunnerLayerError {
    ReadBinary(std::io::Error),
    Install(std::io::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RunnerMetadata {
    runner_sha256: String,
}

/// Returns the path of the runner inside the layer.
pub(crate) fn contribute(
    context: &BuildContext<JobTemplateBuildpack>,
    settings: &Settings,
) -> libcnb::Result<PathBuf, JobTemplateError> {
    let source = libcnb::additional_buildpack_binary_path!("runner");
    let binary = fs_err::read(&source)
        .map_err(|error| JobTemplateError::RunnerLayer(RunnerLayerError::ReadBinary(error)))?;
    let metadata = RunnerMetadata {
        runner_sha256: format!("{:x}", Sha256::digest(&binary)),
    };

    let layer = context.cached_layer(
        layer_name!("runner"),
        CachedLayerDefinition {
            build: false,
            launch: true,
            invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
            restored_layer_action: &|cached: &RunnerMetadata, _| {
                if cached == &metadata {
                    RestoredLayerAction::KeepLayer
                } else {
                    RestoredLayerAction::DeleteLayer
                }
            },
        },
    )?;
    let target = layer.path().join("bin/jobwrap-runner");
    match layer.state {
        LayerState::Restored { .. } => {
            println!("Reusing the cached runner layer (unchanged runner).");
        }
        LayerState::Empty { .. } => {
            println!("Installing jobwrap's runner into the launch layer.");
            install(&binary, &target)
                .map_err(|error| JobTemplateError::RunnerLayer(RunnerLayerError::Install(error)))?;
            layer.write_metadata(metadata.clone())?;
        }
    }

    // The Python may change while the binary stays: compiled again on every build.
    let shim = layer.path().join("shim");
    let path = Env::from_current().get("PATH").map(OsString::from);
    let mut env =
        match jobwrap_wrapper::shim::install(&shim, OsStr::new("python3"), path.as_deref()) {
            Ok(()) => {
                println!("Compiled the runner's Python shim.");
                LayerEnv::new().chainable_insert(
                    Scope::Launch,
                    ModificationBehavior::Override,
                    "JOBWRAP_SHIM_DIR",
                    &shim,
                )
            }
            Err(error) => {
                println!("Warning: {error}. Jobs still run, each starting about 1.5 ms slower.");
                LayerEnv::new()
            }
        };
    // The environment may change while the binary stays, so it is written on every build.
    env = env.chainable_insert(
        Scope::Launch,
        ModificationBehavior::Override,
        "JOBWRAP_ENTRYPOINT",
        &settings.entrypoint,
    );
    // Defaults only: whoever runs the image can still set their own values.
    for (name, value) in [
        (
            "JOBWRAP_TIMEOUT",
            settings.timeout_seconds.map(|s| s.to_string()),
        ),
        (
            "JOBWRAP_MEMORY",
            settings.memory_bytes.map(|b| b.to_string()),
        ),
        ("JOBWRAP_CPUS", settings.cpus.map(|c| c.to_string())),
    ] {
        if let Some(value) = value {
            env = env.chainable_insert(Scope::Launch, ModificationBehavior::Default, name, value);
        }
    }
    layer.write_env(env)?;
    Ok(target)
}

fn install(binary: &[u8], target: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = target.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::write(target, binary)?;
    // Readable and executable by the run image's user, writable by nobody else.
    fs_err::set_permissions(target, std::fs::Permissions::from_mode(0o755))
}
