//! The Kubernetes backend: runs a job image as a Job in the cluster of `$KUBECONFIG`.
//!
//! [`prepare`], before anything is built: the cluster reached, the inputs read.
//! [`run`] = create the run's [`objects`] (Secret, optional `NetworkPolicy`, Job) → wait
//! for the pod's end (or the Job's: Complete or Failed) while streaming the pod's log →
//! the [`outcome`] from the pod's end, the runner's signed report and its final log line
//! → delete everything of the run, on every path, Ctrl-C included, and wait until it is
//! gone.

mod objects;
mod outcome;
mod stuck;

use objects::RUN_LABEL;

use crate::container::{Finished, Inputs};
use crate::interrupt::Interrupt;
use crate::settings::Limits;
use futures_util::AsyncReadExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use objects::{InputFiles, RunObjects};
use outcome::JobEnd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use stuck::{StartWatch, Stuck};

/// How often the Job and its pod are looked at.
const POLL: Duration = Duration::from_millis(250);
/// A Job without a pod this long has been refused one (quota, Pod Security…): say why.
const POD_PATIENCE: Duration = Duration::from_secs(30);
/// The cluster enforces the deadline; jobwrap gives up this much later.
const HOST_ALLOWANCE: Duration = Duration::from_secs(90);
/// How long removing a run's objects may take before jobwrap reports what is left.
const TEARDOWN_PATIENCE: Duration = Duration::from_mins(1);
/// How long the log may take to arrive in full once the Job has ended.
const LOG_DRAIN: Duration = Duration::from_secs(10);
/// How much of the log's end is searched for the runner's final line (the runner caps
/// results below this).
const TAIL_LINES: i64 = 64;
const MAX_TAIL_BYTES: i64 = 80 * 1024 * 1024;

#[derive(Debug)]
pub(crate) enum KubeError {
    Config(kube::Error),
    Random(std::io::Error),
    Input {
        path: PathBuf,
        error: std::io::Error,
    },
    InputsTooLarge(u64),
    Api {
        action: &'static str,
        error: kube::Error,
    },
    PodStuck {
        reason: String,
        message: String,
    },
    SettingsDropped(Vec<&'static str>),
    NoPod(String),
    Interrupted(i32),
    Leftovers(Vec<String>),
}

/// The cluster reached and the run's inputs read: everything that can fail before an
/// image is built or pushed, so a wrong kubeconfig or oversized inputs cost no build.
pub(crate) struct Prepared {
    client: Client,
    namespace: String,
    inputs: InputFiles,
}

/// What runs on the cluster, and how.
#[derive(Debug)]
pub(crate) struct KubeRun<'a> {
    pub(crate) image: &'a str,
    pub(crate) limits: &'a Limits,
    pub(crate) network_policy: bool,
}

pub(crate) async fn prepare(
    namespace: Option<&str>,
    inputs: &Inputs,
) -> Result<Prepared, KubeError> {
    let client = Client::try_default().await.map_err(KubeError::Config)?;
    let namespace = namespace
        .unwrap_or_else(|| client.default_namespace())
        .to_owned();
    let inputs = read_inputs(inputs)?;
    client
        .apiserver_version()
        .await
        .map_err(api("reach its API server"))?;
    Ok(Prepared {
        client,
        namespace,
        inputs,
    })
}

pub(crate) async fn run(
    prepared: Prepared,
    request: &KubeRun<'_>,
    interrupt: &Interrupt,
) -> Result<Finished, KubeError> {
    let Prepared {
        client,
        namespace,
        inputs,
    } = prepared;
    let run_id = crate::teardown::unique_id();
    let key = result_key()?;
    let objects = objects::run_objects(
        &run_id,
        request.image,
        inputs,
        request.limits,
        request.network_policy,
        &key,
    );
    let cluster = Cluster::new(client, &namespace);
    eprintln!(
        "jobwrap: running {} as Job jobwrap-{run_id} in namespace {namespace}",
        request.image
    );
    let host_deadline =
        Duration::from_secs(objects::deadline_seconds(request.limits)) + HOST_ALLOWANCE;
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(host_deadline, execute(&cluster, objects, key.as_bytes())) => match outcome {
            Ok(outcome) => outcome,
            Err(_) => Ok(not_ended_in_time()),
        },
        signal = interrupt.wait() => Err(KubeError::Interrupted(signal)),
    };
    // Everything is found again by the run's label, so even an object whose creation
    // was cut short by Ctrl-C is removed.
    let removed = cluster.remove_run(&run_id).await;
    let finished = outcome?;
    removed?;
    Ok(finished)
}

/// The run's objects in one namespace.
struct Cluster {
    jobs: Api<Job>,
    pods: Api<Pod>,
    secrets: Api<Secret>,
    policies: Api<NetworkPolicy>,
    events: Api<Event>,
}

impl Cluster {
    fn new(client: Client, namespace: &str) -> Self {
        Cluster {
            jobs: Api::namespaced(client.clone(), namespace),
            pods: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client.clone(), namespace),
            policies: Api::namespaced(client.clone(), namespace),
            events: Api::namespaced(client, namespace),
        }
    }

    /// Deletes every object of the run (the Job in the foreground, so its pod goes
    /// first), then waits until none is left.
    async fn remove_run(&self, run_id: &str) -> Result<(), KubeError> {
        let selector = ListParams::default().labels(&format!("{RUN_LABEL}={run_id}"));
        let plain = DeleteParams::default();
        // Failures here show up as leftovers below.
        let _ = self
            .jobs
            .delete_collection(&DeleteParams::foreground(), &selector)
            .await;
        let _ = self.pods.delete_collection(&plain, &selector).await;
        let _ = self.secrets.delete_collection(&plain, &selector).await;
        let _ = self.policies.delete_collection(&plain, &selector).await;
        let started = Instant::now();
        loop {
            let mut left = names("job", &self.jobs, &selector).await;
            left.extend(names("pod", &self.pods, &selector).await);
            left.extend(names("secret", &self.secrets, &selector).await);
            left.extend(names("networkpolicy", &self.policies, &selector).await);
            if left.is_empty() {
                return Ok(());
            }
            if started.elapsed() > TEARDOWN_PATIENCE {
                return Err(KubeError::Leftovers(left));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// `kind/name` of each object `selector` matches (or why they cannot be listed).
async fn names<K>(kind: &str, api: &Api<K>, selector: &ListParams) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.list_metadata(selector).await {
        Ok(list) => list
            .items
            .into_iter()
            .map(|object| format!("{kind}/{}", object.metadata.name.unwrap_or_default()))
            .collect(),
        Err(error) => vec![format!("{kind}s (cannot list them: {error})")],
    }
}

/// Creates the run's objects, waits for the Job's end, and reads the outcome.
async fn execute(
    cluster: &Cluster,
    objects: RunObjects,
    key: &[u8],
) -> Result<Finished, KubeError> {
    let job_name = create(cluster, &objects).await?;
    let (end, pod_name) = wait_for_end(cluster, &job_name).await?;
    let pod = match &pod_name {
        Some(name) => cluster
            .pods
            .get_opt(name)
            .await
            .map_err(api("read the pod"))?,
        None => None,
    };
    let (container, log_tail) = match (&pod, &pod_name) {
        (Some(pod), Some(name)) => (
            outcome::container_end(pod),
            log_tail(&cluster.pods, name).await,
        ),
        _ => (None, String::new()),
    };
    Ok(outcome::finished(&end, container.as_ref(), &log_tail, key))
}

fn api(action: &'static str) -> impl Fn(kube::Error) -> KubeError {
    move |error| KubeError::Api { action, error }
}

/// Creates the Secret, the policy and the Job, checks the Job as the server stored it,
/// and makes the Job the owner of the others. Returns the Job's name.
async fn create(cluster: &Cluster, objects: &RunObjects) -> Result<String, KubeError> {
    let create = PostParams::default();
    cluster
        .secrets
        .create(&create, &objects.secret)
        .await
        .map_err(api("create the inputs' Secret"))?;
    if let Some(policy) = &objects.network_policy {
        cluster
            .policies
            .create(&create, policy)
            .await
            .map_err(api("create the NetworkPolicy"))?;
    }
    let job = cluster
        .jobs
        .create(&create, &objects.job)
        .await
        .map_err(api("create the Job"))?;
    let job_name = job.metadata.name.clone().unwrap_or_default();
    let dropped = objects::dropped_settings(&objects.job, &job);
    if !dropped.is_empty() {
        return Err(KubeError::SettingsDropped(dropped));
    }
    // Owned by the Job, the Secret and the policy go with it even if jobwrap dies.
    let owner = serde_json::json!({ "metadata": { "ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": job_name,
        "uid": job.metadata.uid, "blockOwnerDeletion": true,
    }]}});
    let patch = Patch::Merge(&owner);
    cluster
        .secrets
        .patch(&job_name, &PatchParams::default(), &patch)
        .await
        .map_err(api("hand the Secret to the Job"))?;
    if objects.network_policy.is_some() {
        cluster
            .policies
            .patch(&job_name, &PatchParams::default(), &patch)
            .await
            .map_err(api("hand the NetworkPolicy to the Job"))?;
    }
    Ok(job_name)
}

/// Polls the Job and its pod until either has ended, streaming the pod's log once the
/// container has started. Fails early when the pod cannot start or never comes.
/// Returns how the Job ended and its pod's name, if it had one.
async fn wait_for_end(
    cluster: &Cluster,
    job_name: &str,
) -> Result<(JobEnd, Option<String>), KubeError> {
    let selector =
        ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job_name}"));
    let created = Instant::now();
    let mut logs = None;
    let mut pod_name = None;
    let mut start_watch = StartWatch::default();
    loop {
        let job = cluster
            .jobs
            .get(job_name)
            .await
            .map_err(api("read the Job"))?;
        let pods = cluster
            .pods
            .list(&selector)
            .await
            .map_err(api("list the Job's pods"))?;
        let pod = pods.items.first();
        // The pod's own end comes a second or more before the Job's condition (the Job
        // controller batches pod updates); a pod being deleted, though, was stopped by
        // the cluster (its deadline), which only the Job's condition tells.
        let end = outcome::job_end(&job).or_else(|| pod.and_then(outcome::pod_end));
        if let Some(pod) = pod {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if end.is_none()
                && let Some(Stuck { reason, message }) = start_watch.observe(pod, Instant::now())
            {
                return Err(KubeError::PodStuck { reason, message });
            }
            if logs.is_none() && started(pod) {
                let follow = end.is_none();
                logs = Some(tokio::spawn(print_log(
                    cluster.pods.clone(),
                    name.clone(),
                    follow,
                )));
            }
            pod_name = Some(name);
        } else if end.is_none() && pod_name.is_none() && created.elapsed() > POD_PATIENCE {
            // (A pod seen before and gone now was removed at the deadline.)
            return Err(KubeError::NoPod(why_no_pod(cluster, job_name).await));
        }
        if let Some(end) = end {
            if let Some(logs) = logs {
                let _ = tokio::time::timeout(LOG_DRAIN, logs).await;
            }
            return Ok((end, pod_name));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn not_ended_in_time() -> Finished {
    let mut finished = outcome::finished(
        &JobEnd::Failed {
            reason: Some("DeadlineExceeded".into()),
        },
        None,
        "",
        b"",
    );
    finished.timed_out_on_host = true;
    finished
}

fn started(pod: &Pod) -> bool {
    outcome::container_state(pod)
        .is_some_and(|state| state.running.is_some() || state.terminated.is_some())
}

/// The latest warning about the Job, e.g. the Pod Security admission's refusal.
async fn why_no_pod(cluster: &Cluster, job_name: &str) -> String {
    let selector = ListParams::default().fields(&format!("involvedObject.name={job_name}"));
    let events = cluster
        .events
        .list(&selector)
        .await
        .map(|list| list.items)
        .unwrap_or_default();
    events
        .into_iter()
        .rfind(|event| event.type_.as_deref() == Some("Warning"))
        .and_then(|event| event.message)
        .unwrap_or_else(|| "the cluster gave no reason".into())
}

/// The job's output (user prints and the runner's lines) on our stderr: live while
/// the container runs, all at once if it had already ended.
async fn print_log(pods: Api<Pod>, name: String, follow: bool) {
    let params = LogParams {
        container: Some("job".into()),
        follow,
        ..LogParams::default()
    };
    let Ok(stream) = pods.log_stream(&name, &params).await else {
        return;
    };
    // Bytes as they come: a job's output need not be UTF-8, nor end its lines.
    let mut stderr = futures_util::io::AllowStdIo::new(std::io::stderr());
    let _ = futures_util::io::copy(stream, &mut stderr).await;
}

/// The log's last lines, where the runner's final line is (stdout and stderr are one log
/// here, so the job's last stderr lines may come after it).
async fn log_tail(pods: &Api<Pod>, name: &str) -> String {
    let params = LogParams {
        container: Some("job".into()),
        tail_lines: Some(TAIL_LINES),
        limit_bytes: Some(MAX_TAIL_BYTES),
        ..LogParams::default()
    };
    // Read as bytes: output that is not UTF-8 must not hide the runner's line.
    let mut tail = Vec::new();
    if let Ok(mut stream) = pods.log_stream(name, &params).await {
        let _ = stream.read_to_end(&mut tail).await;
    }
    String::from_utf8_lossy(&tail).into_owned()
}

/// A fresh random key for the runner's report, as 64 hex digits.
fn result_key() -> Result<String, KubeError> {
    use std::io::Read;
    let mut bytes = [0_u8; 32];
    fs_err::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(KubeError::Random)?;
    Ok(jobwrap_wrapper::attest::hex(&bytes))
}

/// The inputs as bytes, within what a Secret holds. (The CLI has checked that each is
/// a regular file.)
fn read_inputs(inputs: &Inputs) -> Result<InputFiles, KubeError> {
    let input_error = |path: &Path| {
        let path = path.to_owned();
        move |error| KubeError::Input { path, error }
    };
    // Sizes first: a large file is refused without being read into memory.
    let mut total = 0;
    for path in [&inputs.data, &inputs.params].into_iter().flatten() {
        total += fs_err::metadata(path).map_err(input_error(path))?.len();
    }
    if total > objects::MAX_INPUT_BYTES {
        return Err(KubeError::InputsTooLarge(total));
    }
    let read = |path: &Option<PathBuf>| {
        path.as_deref()
            .map(|path| fs_err::read(path).map_err(input_error(path)))
            .transpose()
    };
    Ok(InputFiles {
        data: read(&inputs.data)?,
        params: read(&inputs.params)?,
    })
}
