//! Publishes a built job image to the registry a cluster pulls from. The build itself
//! stays at `--network none`: the Docker engine pushes the finished image (pack's
//! `--publish` would give every build phase, the user's build code included, the
//! network that reaches the registry).

use crate::teardown::Cleanup;
use bollard::Docker;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;

#[derive(Debug)]
pub(crate) enum PublishError {
    Registry(String),
    Docker(bollard::errors::Error),
    Push { reference: String, message: String },
}

/// Tags `image` (a local `repository[:tag]`) into `registry`, pushes it, and returns
/// the reference the cluster should pull: by digest when the registry reported one.
/// The local registry tag goes with `cleanup`, pushed or not.
pub(crate) async fn publish(
    docker: &Docker,
    image: &str,
    registry: &str,
    cleanup: &Cleanup,
) -> Result<String, PublishError> {
    check_registry(registry)?;
    let (repository, tag) = split_tag(image);
    let target = format!("{}/{repository}", registry.trim_end_matches('/'));
    let options = TagImageOptionsBuilder::new().repo(&target).tag(tag).build();
    docker
        .tag_image(image, Some(options))
        .await
        .map_err(PublishError::Docker)?;
    let local = format!("{target}:{tag}");
    cleanup.image(&local);
    eprintln!("jobwrap: pushing {local}");
    let options = PushImageOptionsBuilder::new().tag(tag).build();
    let mut progress = docker.push_image(&target, Some(options), None);
    let mut digest = None;
    while let Some(info) = progress.next().await {
        let info = info.map_err(|error| PublishError::Push {
            reference: local.clone(),
            message: error.to_string(),
        })?;
        if let Some(error) = info.error_detail.and_then(|detail| detail.message) {
            return Err(PublishError::Push {
                reference: local,
                message: error,
            });
        }
        // The last status line reads "<tag>: digest: sha256:… size: …".
        if let Some(found) = info.status.as_deref().and_then(digest_in) {
            digest = Some(found.to_owned());
        }
    }
    Ok(match digest {
        Some(digest) => format!("{target}@{digest}"),
        None => local,
    })
}

/// `host[:port][/path]`: a scheme here is a common slip.
fn check_registry(registry: &str) -> Result<(), PublishError> {
    let host = registry.trim_end_matches('/');
    let plain = !host.is_empty()
        && !host.starts_with('/')
        && !host.contains("://")
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-_:/[]".contains(&byte));
    if plain {
        Ok(())
    } else {
        Err(PublishError::Registry(registry.to_owned()))
    }
}

/// `repository[:tag]` as its two parts (`latest` when untagged; a registry's port is no tag).
pub(crate) fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (image, "latest"),
    }
}

fn digest_in(status: &str) -> Option<&str> {
    let (_, rest) = status.split_once("digest: ")?;
    rest.split_whitespace()
        .next()
        .filter(|digest| digest.starts_with("sha256:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_plain_host_and_port() {
        assert!(check_registry("127.0.0.1:5000").is_ok());
        assert!(check_registry("registry.example.com").is_ok());
        assert!(check_registry("http://127.0.0.1:5000").is_err());
        assert!(check_registry("127.0.0.1:5000/team").is_ok());
        assert!(check_registry("127.0.0.1:5000 x").is_err());
        assert!(check_registry("").is_err());
    }

    #[test]
    fn tags_and_digests_are_read() {
        assert_eq!(split_tag("jobwrap-job/abc"), ("jobwrap-job/abc", "latest"));
        assert_eq!(split_tag("jobwrap-job/abc:v1"), ("jobwrap-job/abc", "v1"));
        assert_eq!(
            split_tag("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(
            digest_in("latest: digest: sha256:0123abcd size: 1234"),
            Some("sha256:0123abcd")
        );
        assert_eq!(digest_in("Pushed"), None);
    }
}
