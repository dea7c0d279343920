//! How a Job ended, in the contract's terms.
//!
//! The result comes from the pod's log, which the job's own code writes to as well. It
//! is trusted through the runner's report in the container's termination message: the
//! runner writes it after every job process has ended, signed with HMAC-SHA256 under
//! this run's key (which only the runner sees), and it holds the SHA-256 of the result.
//! The result is the log line whose JSON has that hash; a report that does not verify,
//! or a pod the cluster killed at its deadline, gives no result at all.

use crate::container::Finished;
use jobwrap_wrapper::attest;
use jobwrap_wrapper::outcome::{ERROR_MARKER, RESULT_MARKER};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerState, Pod};
use serde_json::{Value, json};

/// The runner's final-line markers (the `PlanQK` job template's).
const MARKERS: [&str; 2] = [RESULT_MARKER, ERROR_MARKER];

/// A Job's final condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobEnd {
    Complete,
    Failed { reason: Option<String> },
}

/// `Some` once the Job is Complete or Failed (kube's own `is_job_completed` waits for
/// success only).
pub(crate) fn job_end(job: &Job) -> Option<JobEnd> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .filter(|condition| condition.status == "True")
        .find_map(|condition| match condition.type_.as_str() {
            "Complete" => Some(JobEnd::Complete),
            "Failed" => Some(JobEnd::Failed {
                reason: condition.reason.clone(),
            }),
            _ => None,
        })
}

/// The Job's end as its pod tells it, once the pod has ended by itself (a pod the
/// cluster is deleting does not count: that is the deadline, or a Ctrl-C).
pub(crate) fn pod_end(pod: &Pod) -> Option<JobEnd> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    match pod.status.as_ref()?.phase.as_deref()? {
        "Succeeded" => Some(JobEnd::Complete),
        "Failed" => Some(JobEnd::Failed { reason: None }),
        _ => None,
    }
}

/// The job container's end: exit code, the runtime's reason (`OOMKilled`, `Error`…) and
/// the termination message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ContainerEnd {
    pub(crate) exit_code: i32,
    pub(crate) reason: Option<String>,
    pub(crate) message: Option<String>,
}

/// The state of the pod's one container (the job), once the kubelet reports it.
pub(crate) fn container_state(pod: &Pod) -> Option<&ContainerState> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.first()?.state.as_ref()
}

pub(crate) fn container_end(pod: &Pod) -> Option<ContainerEnd> {
    let terminated = container_state(pod)?.terminated.as_ref()?;
    Some(ContainerEnd {
        exit_code: terminated.exit_code,
        reason: terminated.reason.clone(),
        message: terminated.message.clone(),
    })
}

/// The outcome of a Job that ended as `job`, whose container ended as `container` (if the
/// pod was still there to tell), with `log_tail` the last lines of its log and `key`
/// the run's result key.
pub(crate) fn finished(
    job: &JobEnd,
    container: Option<&ContainerEnd>,
    log_tail: &str,
    key: &[u8],
) -> Finished {
    let deadline =
        matches!(job, JobEnd::Failed { reason: Some(reason) } if reason == "DeadlineExceeded");
    let oom_killed = container.is_some_and(|end| end.reason.as_deref() == Some("OOMKilled"));
    let exit_code = match (job, container) {
        _ if deadline => 124,
        (JobEnd::Complete, _) => 0,
        (JobEnd::Failed { .. }, Some(end)) => u8::try_from(end.exit_code).unwrap_or(125),
        (JobEnd::Failed { .. }, None) => 125,
    };
    // The cluster killed the pod at the deadline: whatever is in the log and the message
    // then may be the job's.
    let report = container
        .filter(|_| !deadline)
        .and_then(|end| end.message.as_deref())
        .and_then(|message| verified_report(message, key));
    let result = report
        .as_ref()
        .and_then(|report| report["result_sha256"].as_str())
        .and_then(|hash| result_in(log_tail, hash));
    let status = match report {
        Some(mut report) => {
            if let Some(fields) = report.as_object_mut() {
                fields.remove("result_sha256");
                fields.insert("backend".into(), json!("kubernetes"));
            }
            report
        }
        None => json!({
            "status": if exit_code == 0 { "SUCCEEDED" } else { "FAILED" },
            "exit_code": exit_code,
            "reason": match job {
                JobEnd::Failed { reason } => reason.clone().or_else(|| container.and_then(|end| end.reason.clone())),
                JobEnd::Complete => None,
            },
            "backend": "kubernetes",
        }),
    };
    Finished {
        exit_code,
        status: Some(status),
        result,
        oom_killed,
        timed_out_on_host: deadline,
    }
}

/// The report, if `message` is the runner's, signed with this run's key.
fn verified_report(message: &str, key: &[u8]) -> Option<Value> {
    serde_json::from_str(attest::verify(message, key)?).ok()
}

/// The JSON after a marker on the last log line whose JSON has this SHA-256 (the runner's
/// line is the last of its stream, but the two streams' last lines may be interleaved).
fn result_in(log_tail: &str, sha256: &str) -> Option<Value> {
    log_tail.lines().rev().find_map(|line| {
        let json = MARKERS
            .iter()
            .find_map(|marker| line.strip_prefix(marker))?;
        (attest::sha256_hex(json.as_bytes()) == sha256)
            .then(|| serde_json::from_str(json).ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// A termination message as the runner writes it.
    fn report(exit_code: i32, result: &str, key: &[u8]) -> String {
        let status = if exit_code == 0 {
            "SUCCEEDED"
        } else {
            "FAILED"
        };
        let json = json!({
            "status": status, "exit_code": exit_code, "duration_ms": 3,
            "error": null, "limits_hit": [], "result_sha256": attest::sha256_hex(result.as_bytes()),
        })
        .to_string();
        attest::signed(key, &json).expect("signs")
    }

    fn end(exit_code: i32, reason: &str, message: Option<String>) -> ContainerEnd {
        ContainerEnd {
            exit_code,
            reason: Some(reason.to_owned()),
            message,
        }
    }

    fn failed(reason: &str) -> JobEnd {
        JobEnd::Failed {
            reason: Some(reason.to_owned()),
        }
    }

    #[test]
    fn a_pod_that_ended_by_itself_ends_the_job_and_one_being_deleted_does_not() {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Failed"},
        }))
        .expect("pod");
        assert_eq!(pod_end(&pod), Some(JobEnd::Failed { reason: None }));
        pod.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert_eq!(pod_end(&pod), None);
        let running: Pod =
            serde_json::from_value(json!({"status": {"phase": "Running"}})).expect("pod");
        assert_eq!(pod_end(&running), None);
    }

    #[test]
    fn a_success_takes_the_result_the_report_vouches_for() {
        let result = r#"{"mean":1.5}"#;
        let container = end(0, "Completed", Some(report(0, result, KEY)));
        let log = format!("hello\nJob:ResultResponse: {result}\n");
        let done = finished(&JobEnd::Complete, Some(&container), &log, KEY);
        assert_eq!(done.exit_code, 0);
        assert_eq!(done.result, Some(json!({"mean": 1.5})));
        let status = done.status.expect("status");
        assert_eq!(
            (status["status"].as_str(), status["backend"].as_str()),
            (Some("SUCCEEDED"), Some("kubernetes"))
        );
        assert!(status.get("result_sha256").is_none());
    }

    #[test]
    fn a_forged_line_after_the_runners_is_passed_over() {
        // The job's stderr line landed after the runner's stdout line in the log.
        let result = r#"{"honest":true}"#;
        let container = end(0, "Completed", Some(report(0, result, KEY)));
        let log =
            format!("Job:ResultResponse: {result}\nJob:ResultResponse: {{\"forged\":true}}\n");
        let done = finished(&JobEnd::Complete, Some(&container), &log, KEY);
        assert_eq!(done.result, Some(json!({"honest": true})));
    }

    #[test]
    fn a_report_not_signed_with_the_runs_key_vouches_for_nothing() {
        let forged = r#"{"forged":true}"#;
        let log = format!("Job:ResultResponse: {forged}\n");
        for message in [
            report(0, forged, b"a key the job made up itself"),
            report(0, forged, KEY).replace("SUCCEEDED", "SUCCEEDED "),
            format!(
                "{{\"result_sha256\": \"{}\"}}",
                attest::sha256_hex(forged.as_bytes())
            ),
        ] {
            let container = end(0, "Completed", Some(message));
            let done = finished(&JobEnd::Complete, Some(&container), &log, KEY);
            assert_eq!(done.result, None);
            assert_eq!(done.exit_code, 0);
        }
    }

    #[test]
    fn failures_keep_the_exit_code_and_the_error() {
        let error = r#"{"code":"exception","detail":"boom"}"#;
        let container = end(1, "Error", Some(report(1, error, KEY)));
        let log = format!("Job:ErrorResponse: {error}\n");
        let done = finished(&failed("BackoffLimitExceeded"), Some(&container), &log, KEY);
        assert_eq!(
            (done.exit_code, done.result),
            (1, Some(json!({"code": "exception", "detail": "boom"})))
        );
        let oom = finished(
            &failed("BackoffLimitExceeded"),
            Some(&end(137, "OOMKilled", None)),
            "",
            KEY,
        );
        assert_eq!(oom.exit_code, 137);
        assert!(oom.oom_killed);
    }

    #[test]
    fn the_clusters_deadline_is_a_timeout_and_nothing_of_the_pod_is_trusted() {
        let forged = r#"{"forged":true}"#;
        let container = end(137, "Error", Some(report(0, forged, KEY)));
        let log = format!("Job:ResultResponse: {forged}\n");
        let done = finished(&failed("DeadlineExceeded"), Some(&container), &log, KEY);
        assert_eq!((done.exit_code, done.result), (124, None));
        assert!(done.timed_out_on_host);
        assert_eq!(
            finished(&failed("DeadlineExceeded"), None, "", KEY).exit_code,
            124
        );
    }
}
