//! `jobwrap clean`: removes what interrupted runs left, found by jobwrap's container
//! label, image repository and temporary-folder prefix.

use crate::build::BUILDER_ALIAS_REPOSITORY;
use crate::teardown::{IMAGE_REPOSITORY, RUN_LABEL, TEMP_PREFIX};
use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use std::collections::HashMap;

/// Returns how many containers, images and folders were removed.
pub(crate) async fn clean(
    docker: &Docker,
) -> Result<(usize, usize, usize), bollard::errors::Error> {
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&HashMap::from([("label", vec![RUN_LABEL])]))
                .build(),
        ))
        .await?;
    for container in &containers {
        if let Some(id) = &container.id {
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            docker.remove_container(id, Some(options)).await?;
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
        crate::build::remove_build_containers(docker, alias).await;
        let untag = RemoveImageOptionsBuilder::new().noprune(true).build();
        docker.remove_image(alias, Some(untag), None).await?;
    }
    let reference = format!("{IMAGE_REPOSITORY}/*");
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new()
                .filters(&HashMap::from([("reference", vec![reference.as_str()])]))
                .build(),
        ))
        .await?;
    for image in &images {
        let options = RemoveImageOptionsBuilder::new().force(true).build();
        docker.remove_image(&image.id, Some(options), None).await?;
    }
    let mut folders = 0;
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(TEMP_PREFIX));
        if is_ours
            && entry.file_type().is_ok_and(|t| t.is_dir())
            && fs_err::remove_dir_all(entry.path()).is_ok()
        {
            folders += 1;
        }
    }
    Ok((containers.len(), images.len(), folders))
}
