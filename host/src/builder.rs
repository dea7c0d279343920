//! `jobwrap builder create`: packages the buildpack and creates a builder with pack.

use crate::errors::HostError;
use std::path::Path;
use std::process::Command;

pub(crate) fn create(repo: &Path, offline: bool) -> Result<(), HostError> {
    if offline {
        // The offline builder needs the whole local toolchain: the setup makes it all.
        run(Command::new("bash").arg(repo.join("scripts/setup")))?;
        eprintln!("Created jobwrap/builder-offline. Next: jobwrap run <project>");
        return Ok(());
    }
    run(Command::new("cargo")
        .args([
            "libcnb",
            "package",
            "--release",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .current_dir(repo))?;
    run(Command::new("pack")
        .args([
            "builder",
            "create",
            "jobwrap/builder",
            "--config",
            "builder/builder.toml",
        ])
        .current_dir(repo))?;
    eprintln!(
        "Created jobwrap/builder. Next: jobwrap run <project>, or \
         pack build my-job --builder jobwrap/builder --path <project>"
    );
    Ok(())
}

fn run(command: &mut Command) -> Result<(), HostError> {
    let shown = format!("{command:?}");
    let status = command.status().map_err(|error| HostError::Tool {
        tool: "a setup command",
        error,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(HostError::ToolFailed {
            command: shown,
            status: status.to_string(),
        })
    }
}
