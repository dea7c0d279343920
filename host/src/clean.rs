//! `jobwrap clean`: removes what interrupted runs left, found by jobwrap's container
//! label, the runs' image repository and the temporary-folder prefix, and the build caches of projects
//! that are gone. What a jobwrap process still running owns (its pid is in the run's id
//! and in its folders' names) is left alone, so cleaning never breaks a run under way.

use crate::build::BUILDER_ALIAS_REPOSITORY;
use crate::cache::{self, Sweep};
use crate::teardown::{RUN_IMAGE_REPOSITORY, RUN_LABEL, TEMP_PREFIX, owner_alive};
use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use std::collections::HashMap;

/// What one `jobwrap clean` removed.
#[derive(Debug, Default)]
pub(crate) struct Removed {
    pub(crate) containers: usize,
    pub(crate) images: usize,
    pub(crate) folders: usize,
    pub(crate) caches: usize,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} containers, {} images, {} folders, {} build cache volumes",
            self.containers, self.images, self.folders, self.caches
        )
    }
}

pub(crate) async fn clean(
    docker: &Docker,
    caches: Sweep,
) -> Result<Removed, bollard::errors::Error> {
    let mut removed = Removed::default();
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&HashMap::from([("label", vec![RUN_LABEL])]))
                .build(),
        ))
        .await?;
    for container in &containers {
        let run = container
            .labels
            .as_ref()
            .and_then(|labels| labels.get(RUN_LABEL));
        if run.is_some_and(|run| owner_alive(run)) {
            continue;
        }
        if let Some(id) = &container.id {
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            docker.remove_container(id, Some(options)).await?;
            removed.containers += 1;
        }
    }
    // Builder aliases of interrupted builds: their containers, then the names.
    let aliases = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new()
                .filters(&HashMap::from([(
                    "reference",
                    vec![BUILDER_ALIAS_REPOSITORY],
                )]))
                .build(),
        ))
        .await?;
    for alias in aliases.iter().flat_map(|image| image.repo_tags.iter()) {
        let build = alias.rsplit_once(':').map_or("", |(_, tag)| tag);
        if owner_alive(build) {
            continue;
        }
        crate::build::remove_build_containers(docker, alias).await;
        let untag = RemoveImageOptionsBuilder::new().noprune(true).build();
        docker.remove_image(alias, Some(untag), None).await?;
    }
    // A run's own images only: `jobwrap build`'s are the user's.
    let reference = format!("{RUN_IMAGE_REPOSITORY}/*");
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new()
                .filters(&HashMap::from([("reference", vec![reference.as_str()])]))
                .build(),
        ))
        .await?;
    for image in &images {
        // Each run tags its image with its id: a live run's image stays.
        if image
            .repo_tags
            .iter()
            .filter_map(|name| name.rsplit_once(':'))
            .any(|(_, run)| owner_alive(run))
        {
            continue;
        }
        // An image a running job uses cannot go (not even forced): it stays.
        let options = RemoveImageOptionsBuilder::new().force(true).build();
        if docker
            .remove_image(&image.id, Some(options), None)
            .await
            .is_ok()
        {
            removed.images += 1;
        }
    }
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|name| name.strip_prefix(TEMP_PREFIX))
        else {
            continue;
        };
        // `<kind>-<pid>-<random>`; folders from before the pid was in the name have none.
        let owner = rest.split_once('-').map_or("", |(_, owner)| owner);
        if !owner_alive(owner)
            && entry.file_type().is_ok_and(|t| t.is_dir())
            && fs_err::remove_dir_all(entry.path()).is_ok()
        {
            removed.folders += 1;
        }
    }
    removed.caches = cache::remove(docker, caches).await?;
    Ok(removed)
}
