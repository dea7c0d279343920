//! The build caches: one pair of Docker volumes (pack's build and launch caches) per
//! project location and builder, so an edited project (a new image tag) still reuses its
//! layers.
//!
//! jobwrap creates the volumes itself, labelled with the project's location, before pack
//! uses them: `jobwrap clean` then removes the caches of projects that no longer exist
//! (a numpy project's cache is about 100 MB, and a platform builds many projects).

use crate::build::BuildError;
use crate::interrupt::Interrupt;
use bollard::Docker;
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Every cache volume's name starts so.
const NAME_PREFIX: &str = "jobwrap-cache-";
/// The label naming the project a cache belongs to.
const PROJECT_LABEL: &str = "io.jobwrap.cache.project";
/// pack's two caches, as suffixes of the cache's name.
const KINDS: [&str; 2] = ["build", "launch"];

/// One project's cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildCache {
    /// The volumes' common stem: `<name>.build` and `<name>.launch`.
    pub(crate) name: String,
    project: PathBuf,
}

impl BuildCache {
    pub(crate) fn of(project: &Path, builder: &str) -> BuildCache {
        let project = fs_err::canonicalize(project).unwrap_or_else(|_| project.to_owned());
        let digest = Sha256::new()
            .chain_update(project.as_os_str().as_encoded_bytes())
            .chain_update([0])
            .chain_update(builder.as_bytes())
            .finalize();
        BuildCache {
            name: format!("{NAME_PREFIX}{}", &format!("{digest:x}")[..16]),
            project,
        }
    }

    /// Creates the volumes with their label (creating an existing volume changes nothing).
    pub(crate) async fn prepare(&self, docker: &Docker) -> Result<(), bollard::errors::Error> {
        for kind in KINDS {
            docker
                .create_volume(VolumeCreateRequest {
                    name: Some(format!("{}.{kind}", self.name)),
                    labels: Some(HashMap::from([(
                        PROJECT_LABEL.to_owned(),
                        self.project.to_string_lossy().into_owned(),
                    )])),
                    ..VolumeCreateRequest::default()
                })
                .await?;
        }
        Ok(())
    }
}

/// Held while a build uses its cache: two `pack build`s on one cache fail (their
/// exporters race to commit the launch cache), so builds of one project take turns.
#[derive(Debug)]
pub(crate) struct CacheLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl BuildCache {
    /// Waits (Ctrl-C aware) until no other jobwrap process builds with this cache. The
    /// lock is the kernel's (`flock`), so a process that dies releases it.
    pub(crate) async fn lock(&self, interrupt: &Interrupt) -> Result<CacheLock, BuildError> {
        use fs_err::os::unix::fs::OpenOptionsExt;
        use nix::fcntl::{Flock, FlockArg};
        // A file, never a folder: `jobwrap clean` removes stale `jobwrap-*` folders only
        // (a lock file removed while held would no longer exclude anyone).
        let path = std::env::temp_dir().join(format!("{}.lock", self.name));
        let lock_error = |error| BuildError::Lock {
            path: path.clone(),
            error,
        };
        let file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(lock_error)?
            .into_file();
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(CacheLock { _lock: lock }),
            Err((file, nix::errno::Errno::EWOULDBLOCK)) => file,
            Err((_, errno)) => return Err(lock_error(errno.into())),
        };
        eprintln!("jobwrap: another build of this project is under way; waiting for it");
        let waiting = tokio::task::spawn_blocking(move || {
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| errno)
        });
        tokio::select! {
            locked = waiting => match locked {
                Ok(Ok(lock)) => Ok(CacheLock { _lock: lock }),
                Ok(Err(errno)) => Err(lock_error(errno.into())),
                Err(join) => Err(lock_error(std::io::Error::other(join))),
            },
            signal = interrupt.wait() => Err(BuildError::Interrupted(signal)),
        }
    }
}

/// Which caches `jobwrap clean` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sweep {
    /// Those whose project folder is gone.
    Orphaned,
    /// All of them.
    All,
}

/// Removes the cache volumes `sweep` selects; a volume a build is using stays. Returns
/// how many were removed.
pub(crate) async fn remove(docker: &Docker, sweep: Sweep) -> Result<usize, bollard::errors::Error> {
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::new().build()))
        .await?
        .volumes
        .unwrap_or_default();
    let mut removed = 0;
    for volume in volumes {
        if !volume.name.starts_with(NAME_PREFIX) {
            continue;
        }
        let selected = match sweep {
            Sweep::All => true,
            // (Caches from before the label are kept: their project is unknown.)
            Sweep::Orphaned => volume
                .labels
                .get(PROJECT_LABEL)
                .is_some_and(|project| !Path::new(project).exists()),
        };
        if selected
            && docker
                .remove_volume(
                    &volume.name,
                    Some(RemoveVolumeOptionsBuilder::new().force(false).build()),
                )
                .await
                .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cache_per_project_location_and_builder() {
        let here = BuildCache::of(Path::new("/nonexistent/a"), "jobwrap/builder");
        assert_eq!(
            here,
            BuildCache::of(Path::new("/nonexistent/a"), "jobwrap/builder")
        );
        assert_ne!(
            here.name,
            BuildCache::of(Path::new("/nonexistent/b"), "jobwrap/builder").name
        );
        assert_ne!(
            here.name,
            BuildCache::of(Path::new("/nonexistent/a"), "other/builder").name
        );
        assert!(here.name.starts_with(NAME_PREFIX));
    }
}
