//! What a run created, removed again on every path: success, failure, timeout, Ctrl-C.

use bollard::Docker;
use bollard::query_parameters::{RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder};
use std::sync::{Arc, Mutex, PoisonError};

/// Prefix of every staging and run folder, so `jobwrap clean` can find leftovers.
pub(crate) const TEMP_PREFIX: &str = "jobwrap-";
/// The label on every job container: its value is the run's id.
pub(crate) const RUN_LABEL: &str = "io.jobwrap.run";
/// The repository of the images `jobwrap build` (or `run --keep-image`) makes: the user's.
pub(crate) const IMAGE_REPOSITORY: &str = "jobwrap-job";
/// The repository of a run's own images, removed with the run (or by `jobwrap clean`).
pub(crate) const RUN_IMAGE_REPOSITORY: &str = "jobwrap-run";

/// An id no other run on this machine has at the same time: this process and the clock.
/// It names a run's container, its builder alias and its scratch folders.
pub(crate) fn unique_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// The prefix of this process's temporary folders of one `kind` (`stage`, `run`…): the
/// pid in it tells `jobwrap clean` whose they are.
pub(crate) fn temp_prefix(kind: &str) -> String {
    format!("{TEMP_PREFIX}{kind}-{}-", std::process::id())
}

/// Whether the jobwrap process that made `id` (a [`unique_id`], or what follows the kind
/// in a [`temp_prefix`]ed name) still runs: `jobwrap clean` must leave its things alone.
pub(crate) fn owner_alive(id: &str) -> bool {
    let Some(pid) = id.split('-').next().and_then(|pid| pid.parse::<u32>().ok()) else {
        return false;
    };
    // A recycled pid belongs to another program.
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "jobwrap")
}

/// Docker resources of one run (temporary folders remove themselves when dropped).
#[derive(Debug, Default, Clone)]
pub(crate) struct Cleanup {
    inner: Arc<Mutex<Resources>>,
}

#[derive(Debug, Default)]
struct Resources {
    containers: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    pub(crate) fn container(&self, id: &str) {
        self.lock().containers.push(id.to_owned());
    }

    pub(crate) fn image(&self, name: &str) {
        self.lock().images.push(name.to_owned());
    }

    /// Keeps an image that would otherwise be removed (`--keep-image`).
    pub(crate) fn keep_image(&self, name: &str) {
        self.lock().images.retain(|image| image != name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Resources> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes every container, then every image; reports what it could not remove.
    pub(crate) async fn run(&self, docker: &Docker) {
        let (containers, images) = {
            let mut resources = self.lock();
            (
                std::mem::take(&mut resources.containers),
                std::mem::take(&mut resources.images),
            )
        };
        for id in containers {
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            if let Err(error) = docker.remove_container(&id, Some(options)).await {
                report_leftover("container", &id, &error);
            }
        }
        for image in images {
            let options = RemoveImageOptionsBuilder::new().force(true).build();
            if let Err(error) = docker.remove_image(&image, Some(options), None).await {
                report_leftover("image", &image, &error);
            }
        }
    }
}

/// Something already gone is fine; anything else is left for `jobwrap clean`.
fn report_leftover(kind: &str, name: &str, error: &bollard::errors::Error) {
    if !is_not_found(error) {
        eprintln!("jobwrap: could not remove {kind} {name}: {error}; run `jobwrap clean`");
    }
}

pub(crate) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
