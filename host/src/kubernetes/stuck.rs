//! Telling a pod that will never start from one the kubelet is still retrying.
//!
//! The kubelet reports the same waiting reasons for both: `CreateContainerConfigError`
//! is a root image under `runAsNonRoot` (for good) or a Secret its cache has not synced
//! within the kubelet's one-second wait (retried a few seconds later); `ErrImagePull` is
//! a missing image or a registry that was briefly away. Only reasons that no retry can
//! change fail the run at once; the others must persist for [`PATIENCE`], longer than
//! the kubelet's first back-off (10 s), so it has retried at least once.

use super::outcome;
use k8s_openapi::api::core::v1::Pod;
use std::time::{Duration, Instant};

/// How long a retried reason may last before the run gives up.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// Reasons no retry changes: the pod's spec itself is wrong.
const FOR_GOOD: [&str; 2] = ["InvalidImageName", "ErrImageNeverPull"];
/// Reasons the kubelet retries, which usually mean the pod will not start.
const RETRIED: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Why the pod's container is waiting, when that reason means it may never start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stuck {
    pub(crate) reason: String,
    pub(crate) message: String,
}

/// Follows one pod's waiting reasons across polls.
#[derive(Debug, Default)]
pub(crate) struct StartWatch {
    /// When the pod was first seen in a retried reason, since it last was not.
    since: Option<Instant>,
}

impl StartWatch {
    /// `Some` once the pod, seen at `now`, should be given up on.
    pub(crate) fn observe(&mut self, pod: &Pod, now: Instant) -> Option<Stuck> {
        let waiting = outcome::container_state(pod).and_then(|state| state.waiting.as_ref());
        let Some((reason, waiting)) =
            waiting.and_then(|waiting| Some((waiting.reason.as_deref()?, waiting)))
        else {
            self.since = None;
            return None;
        };
        let stuck = || Stuck {
            reason: reason.to_owned(),
            message: waiting.message.clone().unwrap_or_default(),
        };
        if FOR_GOOD.contains(&reason) {
            return Some(stuck());
        }
        if !RETRIED.contains(&reason) {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        (now.duration_since(since) >= PATIENCE).then(stuck)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn waiting(reason: &str) -> Pod {
        serde_json::from_value(json!({
            "status": {"containerStatuses": [{
                "name": "job", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": "why"}},
            }]},
        }))
        .expect("pod")
    }

    #[test]
    fn a_spec_no_retry_can_fix_is_given_up_at_once() {
        let now = Instant::now();
        let stuck = StartWatch::default().observe(&waiting("InvalidImageName"), now);
        assert_eq!(
            stuck,
            Some(Stuck {
                reason: "InvalidImageName".into(),
                message: "why".into()
            })
        );
    }

    #[test]
    fn a_retried_reason_is_given_up_only_once_it_has_lasted() {
        let start = Instant::now();
        let mut watch = StartWatch::default();
        let pod = waiting("CreateContainerConfigError");
        assert_eq!(watch.observe(&pod, start), None);
        // The pull reasons alternate while the kubelet backs off: still one wait.
        assert_eq!(
            watch.observe(&waiting("ImagePullBackOff"), start + PATIENCE / 2),
            None
        );
        assert!(watch.observe(&pod, start + PATIENCE).is_some());
    }

    #[test]
    fn a_retry_that_gets_further_starts_the_wait_again() {
        let start = Instant::now();
        let mut watch = StartWatch::default();
        assert_eq!(
            watch.observe(&waiting("CreateContainerConfigError"), start),
            None
        );
        assert_eq!(
            watch.observe(&waiting("ContainerCreating"), start + PATIENCE / 2),
            None
        );
        let later = start + PATIENCE + Duration::from_secs(1);
        assert_eq!(watch.observe(&waiting("CreateContainerError"), later), None);
        assert!(
            watch
                .observe(&waiting("ErrImagePull"), later + PATIENCE)
                .is_some()
        );
    }
}
