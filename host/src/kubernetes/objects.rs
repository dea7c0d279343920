//! What a Kubernetes run creates, as data: the inputs' Secret, the Job (its pod's
//! security settings are all here, review them in this file) and an optional
//! default-deny `NetworkPolicy`. Every object carries the run's labels.

use crate::settings::{INPUT_DATA_DIR, INPUT_PARAMS_DIR, Limits, OUTPUT_DIR};
use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, KeyToPath,
    PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, Secret,
    SecretKeySelector, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// Every object of every run has this label, so leftovers can be listed.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "jobwrap");
/// The label whose value is the run's id.
pub(crate) const RUN_LABEL: &str = "jobwrap.dev/run";

/// The contract's input folders sit under this one mount.
const INPUT_ROOT: &str = "/var/input";
/// A Secret holds at most 1 MiB; the rest of the object needs a little of it.
pub(crate) const MAX_INPUT_BYTES: u64 = 1024 * 1024 - 4096;
/// The only writable places besides the output folder.
const TMP_BYTES: &str = "256Mi";
const OUTPUT_BYTES: &str = "128Mi";
/// The container's writable layer and logs.
const EPHEMERAL_STORAGE: &str = "1Gi";
/// The runner stops the job at its timeout and needs a little to report; the deadline
/// also covers scheduling and the image pull.
const DEADLINE_ALLOWANCE_SECONDS: u64 = 30;
/// If jobwrap itself dies, the cluster removes the finished Job (and with it the pod
/// and the Secret it owns) after this long.
const TTL_AFTER_FINISHED_SECONDS: i32 = 600;
/// SIGTERM to SIGKILL when a pod is deleted; the runner's own grace is 10 s.
const TERMINATION_GRACE_SECONDS: i64 = 15;

/// One run's objects.
#[derive(Debug)]
pub(crate) struct RunObjects {
    pub(crate) secret: Secret,
    pub(crate) job: Job,
    pub(crate) network_policy: Option<NetworkPolicy>,
}

/// The run's inputs, as read from the command line's files.
#[derive(Debug, Default)]
pub(crate) struct InputFiles {
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) params: Option<Vec<u8>>,
}

/// The Secret's key holding the run's result key: given to the runner as
/// `JOBWRAP_RESULT_KEY`, never projected into the inputs folder.
const RESULT_KEY: &str = "result-key";

/// The objects of run `run_id` of `image` with these inputs and limits; `result_key`
/// is what the runner signs its report with (see the wrapper's `attest`).
pub(crate) fn run_objects(
    run_id: &str,
    image: &str,
    inputs: InputFiles,
    limits: &Limits,
    network_policy: bool,
    result_key: &str,
) -> RunObjects {
    let name = format!("jobwrap-{run_id}");
    let labels = BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (RUN_LABEL.to_owned(), run_id.to_owned()),
    ]);
    let metadata = ObjectMeta {
        name: Some(name.clone()),
        labels: Some(labels.clone()),
        ..ObjectMeta::default()
    };
    let mut items = Vec::new();
    let mut data = BTreeMap::from([(
        RESULT_KEY.to_owned(),
        ByteString(result_key.as_bytes().to_vec()),
    )]);
    for (key, dir, bytes) in [
        ("data.json", INPUT_DATA_DIR, inputs.data),
        ("params.json", INPUT_PARAMS_DIR, inputs.params),
    ] {
        if let Some(bytes) = bytes {
            let folder = dir.trim_start_matches(INPUT_ROOT).trim_start_matches('/');
            items.push(KeyToPath {
                key: key.to_owned(),
                path: format!("{folder}/{key}"),
                mode: None,
            });
            data.insert(key.to_owned(), ByteString(bytes));
        }
    }
    let secret = Secret {
        metadata: metadata.clone(),
        data: Some(data),
        immutable: Some(true),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    let job = Job {
        metadata: metadata.clone(),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            completions: Some(1),
            parallelism: Some(1),
            active_deadline_seconds: Some(
                i64::try_from(deadline_seconds(limits)).unwrap_or(i64::MAX),
            ),
            ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(&name, image, items, limits)),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    };
    let network_policy = network_policy.then(|| NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(RUN_LABEL.to_owned(), run_id.to_owned())])),
                ..LabelSelector::default()
            }),
            // Both directions named, no rule given: nothing in, nothing out.
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: None,
            egress: None,
        }),
    });
    RunObjects {
        secret,
        job,
        network_policy,
    }
}

/// The Job's `activeDeadlineSeconds`: the job's timeout and the allowance.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn deadline_seconds(limits: &Limits) -> u64 {
    limits.timeout.as_secs_f64().ceil() as u64 + DEADLINE_ALLOWANCE_SECONDS
}

/// The job's pod: the "restricted" Pod Security profile and more.
fn pod_spec(secret: &str, image: &str, inputs: Vec<KeyToPath>, limits: &Limits) -> PodSpec {
    // Only the listed keys are projected; an empty list would project them all (the
    // result key too), so without inputs there is no inputs volume at all.
    let inputs = (!inputs.is_empty()).then(|| Volume {
        name: "inputs".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            items: Some(inputs),
            // Only the job's own user runs in the pod.
            default_mode: Some(0o444),
            optional: Some(false),
        }),
        ..Volume::default()
    });
    let empty_dir = |name: &str, size: &str| Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: None,
            size_limit: Some(Quantity(size.to_owned())),
        }),
        ..Volume::default()
    };
    PodSpec {
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        // hostNetwork, hostPID and hostIPC stay unset: false.
        // No cluster DNS to ask, and nothing to ask it for.
        dns_policy: Some("Default".into()),
        termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            seccomp_profile: Some(runtime_default()),
            ..PodSecurityContext::default()
        }),
        containers: vec![container(secret, image, limits, inputs.is_some())],
        volumes: Some(
            inputs
                .into_iter()
                .chain([
                    empty_dir("output", OUTPUT_BYTES),
                    empty_dir("tmp", TMP_BYTES),
                ])
                .collect(),
        ),
        ..PodSpec::default()
    }
}

/// The job's container: the runner, its limits, no privileges, the run's folders.
fn container(secret: &str, image: &str, limits: &Limits, inputs: bool) -> Container {
    let resources = BTreeMap::from([
        (
            "cpu".to_owned(),
            Quantity(format!("{}m", (limits.cpus * 1000.0).round())),
        ),
        (
            "memory".to_owned(),
            Quantity(limits.memory_bytes.to_string()),
        ),
        (
            "ephemeral-storage".to_owned(),
            Quantity(EPHEMERAL_STORAGE.into()),
        ),
    ]);
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        // The server leaves out a `false` here; ask only for what it keeps.
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    };
    Container {
        name: "job".into(),
        image: Some(image.to_owned()),
        image_pull_policy: Some("IfNotPresent".into()),
        env: Some(vec![
            EnvVar {
                name: "JOBWRAP_TIMEOUT".into(),
                value: Some(limits.timeout.as_secs_f64().to_string()),
                value_from: None,
            },
            EnvVar {
                name: "JOBWRAP_RESULT_KEY".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.to_owned(),
                        key: RESULT_KEY.into(),
                        optional: Some(false),
                    }),
                    ..EnvVarSource::default()
                }),
            },
        ]),
        resources: Some(ResourceRequirements {
            limits: Some(resources.clone()),
            requests: Some(resources),
            claims: None,
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            seccomp_profile: Some(runtime_default()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(
            inputs
                .then(|| mount("inputs", INPUT_ROOT, true))
                .into_iter()
                .chain([
                    mount("output", OUTPUT_DIR, false),
                    mount("tmp", "/tmp", false),
                ])
                .collect(),
        ),
        // The runner's signed report (and nothing the job says) is the message.
        termination_message_policy: Some("File".into()),
        ..Container::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

/// The API server drops fields it does not know (an older cluster, say) with only a
/// warning: names every security-relevant part of the pod template that the created Job
/// does not have as asked.
pub(crate) fn dropped_settings(asked: &Job, created: &Job) -> Vec<&'static str> {
    let pod = |job: &Job| {
        let spec = job
            .spec
            .as_ref()
            .and_then(|spec| spec.template.spec.clone());
        serde_json::to_value(spec).unwrap_or_default()
    };
    let (asked, created) = (pod(asked), pod(created));
    let settings = [
        ("securityContext", "/securityContext"),
        ("container securityContext", "/containers/0/securityContext"),
        ("resources", "/containers/0/resources"),
        ("volumeMounts", "/containers/0/volumeMounts"),
        ("volumes", "/volumes"),
        (
            "automountServiceAccountToken",
            "/automountServiceAccountToken",
        ),
        ("enableServiceLinks", "/enableServiceLinks"),
    ];
    settings
        .into_iter()
        .filter(|(_, pointer)| !covers(created.pointer(pointer), asked.pointer(pointer)))
        .map(|(name, _)| name)
        .collect()
}

/// True when `created` has everything `asked` has. The server may add defaults and
/// writes quantities its own way ("268435456" becomes
/// "256Mi"), so for quantities only their presence is compared.
fn covers(created: Option<&serde_json::Value>, asked: Option<&serde_json::Value>) -> bool {
    use serde_json::Value;
    match (created, asked) {
        (_, None | Some(Value::Null)) => true,
        (Some(Value::Object(created)), Some(Value::Object(asked))) => asked
            .iter()
            .all(|(key, value)| covers(created.get(key), Some(value))),
        (Some(Value::Array(created)), Some(Value::Array(asked))) => {
            created.len() == asked.len()
                && created
                    .iter()
                    .zip(asked)
                    .all(|(created, asked)| covers(Some(created), Some(asked)))
        }
        (Some(Value::String(_)), Some(Value::String(asked))) if is_quantity(asked) => true,
        (Some(created), Some(asked)) => created == asked,
        (None, Some(_)) => false,
    }
}

/// Our quantities: digits with an optional unit suffix ("500m", "268435456", "1Gi").
fn is_quantity(text: &str) -> bool {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty()
        && digits.len() + 2 >= text.len()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn objects(network_policy: bool) -> RunObjects {
        let limits = Limits {
            memory_bytes: 256 * 1024 * 1024,
            cpus: 0.5,
            timeout: Duration::from_secs(30),
        };
        let inputs = InputFiles {
            data: Some(b"{\"a\": 1}".to_vec()),
            params: None,
        };
        run_objects(
            "42-7",
            "127.0.0.1:5000/jobwrap-job/abc",
            inputs,
            &limits,
            network_policy,
            "0123456789abcdef0123456789abcdef",
        )
    }

    #[test]
    fn the_job_fails_once_and_is_bounded_in_time() {
        let spec = objects(false).job.spec.expect("spec");
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(60));
        assert!(spec.ttl_seconds_after_finished.is_some());
    }

    #[test]
    fn the_pod_is_locked_down() {
        let pod = objects(false)
            .job
            .spec
            .expect("spec")
            .template
            .spec
            .expect("pod");
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.enable_service_links, Some(false));
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let context = pod.containers[0].security_context.clone().expect("context");
        assert_eq!(context.allow_privilege_escalation, Some(false));
        assert_eq!(context.read_only_root_filesystem, Some(true));
        assert_eq!(context.run_as_non_root, Some(true));
        assert_eq!(
            context.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_owned()])
        );
        assert_eq!(
            context.seccomp_profile.map(|p| p.type_).as_deref(),
            Some("RuntimeDefault")
        );
        let resources = pod.containers[0].resources.clone().expect("resources");
        let limits = resources.limits.expect("limits");
        assert_eq!(limits["cpu"].0, "500m");
        assert_eq!(limits["memory"].0, "268435456");
        assert!(limits.contains_key("ephemeral-storage"));
        assert_eq!(resources.requests, Some(limits), "requests = limits");
    }

    #[test]
    fn inputs_land_where_the_contract_reads_them() {
        let objects = objects(false);
        let data = objects.secret.data.expect("data");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["data.json", RESULT_KEY]);
        let pod = objects.job.spec.expect("spec").template.spec.expect("pod");
        let secret = pod.volumes.expect("volumes")[0]
            .secret
            .clone()
            .expect("secret volume");
        let items = secret.items.expect("items");
        assert_eq!(items[0].path, "data/data.json");
        let mounts = pod.containers[0].volume_mounts.clone().expect("mounts");
        assert_eq!(
            (mounts[0].mount_path.as_str(), mounts[0].read_only),
            ("/var/input", Some(true))
        );
        assert_eq!(mounts[1].mount_path, OUTPUT_DIR);
    }

    #[test]
    fn settings_the_server_dropped_are_named_and_its_defaults_are_not() {
        let asked = objects(false).job;
        assert!(dropped_settings(&asked, &asked).is_empty());
        let pod_of = |job: &mut Job| {
            job.spec
                .as_mut()
                .and_then(|spec| spec.template.spec.as_mut())
                .map(std::mem::take)
                .expect("pod")
        };
        let with_pod = |pod: PodSpec| {
            let mut job = asked.clone();
            if let Some(spec) = job.spec.as_mut() {
                spec.template.spec = Some(pod);
            }
            job
        };
        // A default the server fills in is fine…
        let mut pod = pod_of(&mut asked.clone());
        pod.scheduler_name = Some("default-scheduler".into());
        pod.containers[0].termination_message_path = Some("/dev/termination-log".into());
        if let Some(limits) = pod.containers[0]
            .resources
            .as_mut()
            .and_then(|r| r.limits.as_mut())
        {
            limits.insert("memory".into(), Quantity("256Mi".into()));
        }
        assert!(dropped_settings(&asked, &with_pod(pod.clone())).is_empty());
        // …a dropped field is not.
        if let Some(context) = pod.containers[0].security_context.as_mut() {
            context.seccomp_profile = None;
        }
        pod.automount_service_account_token = None;
        if let Some(limits) = pod.containers[0]
            .resources
            .as_mut()
            .and_then(|r| r.limits.as_mut())
        {
            limits.remove("memory");
        }
        assert_eq!(
            dropped_settings(&asked, &with_pod(pod)),
            [
                "container securityContext",
                "resources",
                "automountServiceAccountToken"
            ]
        );
    }

    #[test]
    fn the_result_key_reaches_the_runner_only() {
        let objects = objects(false);
        let data = objects.secret.data.expect("data");
        assert_eq!(data[RESULT_KEY].0, b"0123456789abcdef0123456789abcdef");
        let pod = objects.job.spec.expect("spec").template.spec.expect("pod");
        let env = pod.containers[0].env.clone().expect("env");
        let key = env
            .iter()
            .find(|var| var.name == "JOBWRAP_RESULT_KEY")
            .expect("key");
        assert!(
            key.value.is_none(),
            "from the Secret, not in the Job's spec"
        );
        let volumes = pod.volumes.expect("volumes");
        let items = volumes[0]
            .secret
            .clone()
            .and_then(|s| s.items)
            .expect("items");
        assert!(items.iter().all(|item| item.key != RESULT_KEY));
    }

    #[test]
    fn without_inputs_nothing_of_the_secret_is_mounted() {
        let limits = Limits {
            memory_bytes: 1 << 30,
            cpus: 1.0,
            timeout: Duration::from_secs(5),
        };
        let objects = run_objects("1-2", "image", InputFiles::default(), &limits, false, "k");
        let pod = objects.job.spec.expect("spec").template.spec.expect("pod");
        let volumes = pod.volumes.expect("volumes");
        assert!(volumes.iter().all(|volume| volume.secret.is_none()));
        let mounts = pod.containers[0].volume_mounts.clone().expect("mounts");
        assert!(mounts.iter().all(|mount| mount.mount_path != INPUT_ROOT));
    }

    #[test]
    fn the_network_policy_denies_both_ways_for_this_run_only() {
        assert!(objects(false).network_policy.is_none());
        let policy = objects(true)
            .network_policy
            .expect("policy")
            .spec
            .expect("spec");
        assert_eq!(
            policy.policy_types,
            Some(vec!["Ingress".to_owned(), "Egress".to_owned()])
        );
        assert!(policy.ingress.is_none() && policy.egress.is_none());
        let selector = policy
            .pod_selector
            .and_then(|s| s.match_labels)
            .expect("selector");
        assert_eq!(selector[RUN_LABEL], "42-7");
    }
}
