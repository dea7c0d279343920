//! Builds a staged project into a job image with `pack`, the way untrusted code must be
//! built: never `--trust-builder` (the trusted flow runs the build beside the Docker
//! socket), pull policy `never`, and no network unless asked for. Dependencies are
//! fetched first on the host as wheels only (no project code runs) into `vendor/`.

use crate::cli::BuildNetwork;
use crate::interrupt::Interrupt;
use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

pub(crate) const BUILDER: &str = "jobwrap/builder";
pub(crate) const OFFLINE_BUILDER: &str = "jobwrap/builder-offline";

/// Variables passed to pip and pack: what they need to find things and reach the index.
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "DOCKER_HOST",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_CERT",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PACK_HOME",
    "PACK_VOLUME_KEY",
];

#[derive(Debug)]
pub(crate) enum BuildError {
    Docker(bollard::errors::Error),
    Hash {
        path: PathBuf,
        error: std::io::Error,
    },
    Tool {
        tool: &'static str,
        error: std::io::Error,
    },
    Vendor {
        status: String,
    },
    Requirements(crate::requirements::Refused),
    Pack {
        status: String,
    },
    Lock {
        path: PathBuf,
        error: std::io::Error,
    },
    Interrupted(i32),
}

/// The tag's part after the repository: the same staged content on the same builder
/// gives the same hash.
pub(crate) fn content_hash(staged: &Path, builder_id: &str) -> Result<String, BuildError> {
    let mut hasher = Sha256::new();
    hasher.update(builder_id.as_bytes());
    let mut files = Vec::new();
    collect_files(staged, staged, &mut files)?;
    files.sort();
    for relative in files {
        let path = staged.join(&relative);
        let contents = fs_err::read(&path).map_err(|error| BuildError::Hash { path, error })?;
        hasher.update(relative.as_os_str().as_encoded_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    let digest = format!("{:x}", hasher.finalize());
    Ok(digest[..16].to_owned())
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), BuildError> {
    let entries = fs_err::read_dir(dir).map_err(|error| BuildError::Hash {
        path: dir.to_owned(),
        error,
    })?;
    for entry in entries {
        let entry = entry.map_err(|error| BuildError::Hash {
            path: dir.to_owned(),
            error,
        })?;
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, files)?;
        } else {
            files.push(path.strip_prefix(root).unwrap_or(&path).to_owned());
        }
    }
    Ok(())
}

fn passed_env() -> impl Iterator<Item = (&'static str, std::ffi::OsString)> {
    PASSED_ENV
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|value| (*name, value)))
}

/// Downloads the requirements' wheels into `vendor/` (binary only: nothing of the
/// project or its dependencies runs on the host). Skipped when there is nothing to get.
pub(crate) async fn vendor_dependencies(staged: &Path) -> Result<(), BuildError> {
    let requirements = staged.join("requirements.txt");
    let text = fs_err::read_to_string(&requirements).unwrap_or_default();
    let has_requirements = text
        .lines()
        .any(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'));
    if !has_requirements || staged.join("vendor").exists() {
        return Ok(());
    }
    crate::requirements::check(&text).map_err(BuildError::Requirements)?;
    eprintln!("jobwrap: downloading the requirements' wheels into vendor/ (no code runs)");
    let status = tokio::process::Command::new("python3")
        .env_clear()
        .envs(passed_env())
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
        ])
        .arg("--dest")
        .arg(staged.join("vendor"))
        .arg("--requirement")
        .arg(&requirements)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|error| BuildError::Tool {
            tool: "python3",
            error,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Vendor {
            status: status.to_string(),
        })
    }
}

/// A private name for the builder during one build: pack names its phase containers'
/// image after the builder it was given, so this build's containers are exactly those
/// of this name — and only those are removed if the build is interrupted.
pub(crate) const BUILDER_ALIAS_REPOSITORY: &str = "jobwrap-builder-run";

/// One `pack build`: what to build, into which image, with what.
#[derive(Clone, Copy)]
pub(crate) struct PackBuild<'a> {
    pub(crate) staged: &'a Path,
    pub(crate) tag: &'a str,
    pub(crate) builder: &'a str,
    pub(crate) cache: &'a str,
    pub(crate) network: BuildNetwork,
}

/// Runs `pack build`, its output streamed to stderr with a progress prefix.
pub(crate) async fn pack_build(
    docker: &Docker,
    build: &PackBuild<'_>,
    interrupt: &Interrupt,
) -> Result<(), BuildError> {
    let builder = build.builder;
    let alias_tag = crate::teardown::unique_id();
    let alias = format!("{BUILDER_ALIAS_REPOSITORY}:{alias_tag}");
    docker
        .tag_image(
            builder,
            Some(
                TagImageOptionsBuilder::new()
                    .repo(BUILDER_ALIAS_REPOSITORY)
                    .tag(&alias_tag)
                    .build(),
            ),
        )
        .await
        .map_err(BuildError::Docker)?;
    let aliased = PackBuild {
        builder: &alias,
        ..*build
    };
    let outcome = run_pack(docker, &aliased, interrupt).await;
    // Untag only: the builder itself stays.
    let untag = RemoveImageOptionsBuilder::new().noprune(true).build();
    let _ = docker.remove_image(&alias, Some(untag), None).await;
    outcome
}

async fn run_pack(
    docker: &Docker,
    build: &PackBuild<'_>,
    interrupt: &Interrupt,
) -> Result<(), BuildError> {
    let PackBuild {
        staged,
        tag,
        builder,
        cache,
        network,
    } = *build;
    let mut child = tokio::process::Command::new("pack")
        .env_clear()
        .envs(passed_env())
        .args([
            "build",
            tag,
            "--builder",
            builder,
            "--pull-policy",
            "never",
            "--network",
            network.as_str(),
        ])
        .arg("--path")
        .arg(staged)
        .arg("--cache")
        .arg(format!("type=build;format=volume;name={cache}.build"))
        .arg("--cache")
        .arg(format!("type=launch;format=volume;name={cache}.launch"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| BuildError::Tool {
            tool: "pack",
            error,
        })?;
    let stdout = child
        .stdout
        .take()
        .map(|out| tokio::spawn(relay(BufReader::new(out))));
    let stderr = child
        .stderr
        .take()
        .map(|err| tokio::spawn(relay(BufReader::new(err))));
    let status = tokio::select! {
        status = child.wait() => status.map_err(|error| BuildError::Tool { tool: "pack", error })?,
        signal = interrupt.wait() => {
            // pack cancels on SIGINT and removes its lifecycle containers; give it time.
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT);
            }
            if tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
            // pack does not remove a phase container it had just created when cancelled.
            remove_build_containers(docker, builder).await;
            return Err(BuildError::Interrupted(signal));
        }
    };
    for relay in [stdout, stderr].into_iter().flatten() {
        let _ = relay.await;
    }
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Pack {
            status: status.to_string(),
        })
    }
}

/// Removes the containers of an interrupted build: those of this build's builder alias.
/// A create request pack sent just before it stopped can still land, and a container
/// whose cancelled start the engine is still handling cannot be removed yet: so the
/// sweep goes on until it has found nothing three times in a row (or 15 s have passed).
pub(crate) async fn remove_build_containers(docker: &Docker, alias: &str) {
    const QUIET_SWEEPS: u32 = 3;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut quiet = 0;
    // pack's own volumes (`pack-layers-*`, `pack-app-*`) that these containers mounted:
    // a cancelled pack leaves them too.
    let mut volumes = std::collections::BTreeSet::new();
    while quiet < QUIET_SWEEPS && std::time::Instant::now() < deadline {
        let options = ListContainersOptionsBuilder::new().all(true).build();
        let containers = docker
            .list_containers(Some(options))
            .await
            .unwrap_or_default();
        let ours: Vec<_> = containers
            .into_iter()
            .filter(|container| {
                container
                    .image
                    .as_deref()
                    .is_some_and(|image| same_image(image, alias))
            })
            .collect();
        quiet = if ours.is_empty() { quiet + 1 } else { 0 };
        for container in ours {
            volumes.extend(
                container
                    .mounts
                    .into_iter()
                    .flatten()
                    .filter_map(|mount| mount.name)
                    .filter(|name| name.starts_with("pack-")),
            );
            let Some(id) = container.id else { continue };
            let remove = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            let _ = docker.remove_container(&id, Some(remove)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    for volume in volumes {
        // Not forced: a volume still in use stays.
        let _ = docker
            .remove_volume(
                &volume,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
    }
}

/// Whether two image names are the same: pack names its containers' image in full
/// (`index.docker.io/library/NAME:TAG`), jobwrap by the short name.
fn same_image(a: &str, b: &str) -> bool {
    fn short(name: &str) -> &str {
        ["index.docker.io/library/", "docker.io/library/"]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix))
            .unwrap_or(name)
    }
    short(a) == short(b)
}

/// Prefixes each line with the build's phase, so the progress is visible at a glance.
async fn relay(reader: impl tokio::io::AsyncBufRead + Unpin) {
    let mut lines = reader.lines();
    let mut phase = String::from("build");
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(name) = line.strip_prefix("===> ") {
            phase = name.trim().to_ascii_lowercase();
        }
        eprintln!("[{phase}] {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_s_full_image_names_match_the_short_ones() {
        let alias = "jobwrap-builder-run:1-2";
        assert!(same_image(
            "index.docker.io/library/jobwrap-builder-run:1-2",
            alias
        ));
        assert!(same_image(
            "docker.io/library/jobwrap-builder-run:1-2",
            alias
        ));
        assert!(same_image(alias, alias));
        assert!(!same_image(
            "index.docker.io/library/jobwrap-builder-run:1-3",
            alias
        ));
        assert!(!same_image(
            "example.com/library/jobwrap-builder-run:1-2",
            alias
        ));
    }

    #[test]
    fn the_hash_follows_the_content_and_the_builder() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs_err::create_dir_all(dir.path().join("src")).expect("src");
        fs_err::write(dir.path().join("src/program.py"), "a").expect("write");
        let first = content_hash(dir.path(), "sha256:1").expect("tag");
        assert_eq!(first.len(), 16);
        assert_eq!(
            first,
            content_hash(dir.path(), "sha256:1").expect("tag"),
            "stable"
        );
        assert_ne!(
            first,
            content_hash(dir.path(), "sha256:2").expect("tag"),
            "builder counts"
        );
        fs_err::write(dir.path().join("src/program.py"), "b").expect("write");
        assert_ne!(
            first,
            content_hash(dir.path(), "sha256:1").expect("tag"),
            "content counts"
        );
    }
}
