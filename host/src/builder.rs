//! `jobwrap builder create`: packages the buildpack and creates a builder with pack.

use crate::errors::HostError;
use crate::tool;
use std::path::Path;
use tokio::process::Command;

pub(crate) async fn create(repo: &Path, offline: bool) -> Result<(), HostError> {
    if offline {
        // The offline builder needs the whole local toolchain: the setup makes it all.
        tool::run(
            Command::new("bash").arg(repo.join("scripts/setup")),
            "scripts/setup",
        )
        .await?;
        eprintln!("Created jobwrap/builder-offline. Next: jobwrap run <project>");
        return Ok(());
    }
    tool::run(
        Command::new("cargo")
            .args([
                "libcnb",
                "package",
                "--release",
                "--target",
                "x86_64-unknown-linux-gnu",
            ])
            .current_dir(repo),
        "cargo libcnb",
    )
    .await?;
    tool::run(
        Command::new("pack")
            .args([
                "builder",
                "create",
                "jobwrap/builder",
                "--config",
                "builder/builder.toml",
            ])
            .current_dir(repo),
        "pack",
    )
    .await?;
    eprintln!(
        "Created jobwrap/builder. Next: jobwrap run <project> --build-network host, or \
         pack build my-job --builder jobwrap/builder --path <project>"
    );
    Ok(())
}
