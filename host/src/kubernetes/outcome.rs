//! How a Job ended, in the contract's terms. The result comes from the runner's final
//! log line, trusted only when the runner itself ended the pod: the runner prints that
//! line after every user process has ended, so only a pod the cluster killed (at the
//! deadline) could end on a line the user's code printed.

use crate::container::Finished;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// The runner's final-line markers (the `PlanQK` job template's).
const RESULT_MARKER: &str = "Job:ResultResponse: ";
const ERROR_MARKER: &str = "Job:ErrorResponse: ";
/// Exit codes only the runner gives (the contract's, plus 137 for a memory kill).
const RUNNER_CODES: [i32; 7] = [0, 1, 2, 3, 124, 125, 137];

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

/// The job container's end: exit code and the runtime's reason (`OOMKilled`, `Error`…).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ContainerEnd {
    pub(crate) exit_code: i32,
    pub(crate) reason: Option<String>,
}

pub(crate) fn container_end(pod: &Pod) -> Option<ContainerEnd> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let terminated = statuses.first()?.state.as_ref()?.terminated.as_ref()?;
    Some(ContainerEnd {
        exit_code: terminated.exit_code,
        reason: terminated.reason.clone(),
    })
}

/// The outcome of a Job that ended as `job`, whose container ended as `container` (if the
/// pod was still there to tell) with `last_line` as its log's last line.
pub(crate) fn finished(
    job: &JobEnd,
    container: Option<&ContainerEnd>,
    last_line: Option<&str>,
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
    let ended_by_runner = !deadline
        && container.is_some_and(|end| RUNNER_CODES.contains(&end.exit_code))
        && (exit_code == 0) == (*job == JobEnd::Complete);
    let result = last_line
        .filter(|_| ended_by_runner)
        .and_then(|line| final_result(line, exit_code == 0));
    let status = json!({
        "status": if exit_code == 0 { "SUCCEEDED" } else { "FAILED" },
        "exit_code": exit_code,
        "reason": match job {
            JobEnd::Failed { reason } => reason.clone().or_else(|| container.and_then(|end| end.reason.clone())),
            JobEnd::Complete => None,
        },
        "backend": "kubernetes",
    });
    Finished {
        exit_code,
        status: Some(status),
        result,
        oom_killed,
        timed_out_on_host: deadline,
    }
}

/// The JSON after the marker that matches the outcome: a success's result, or a
/// failure's error response.
fn final_result(line: &str, succeeded: bool) -> Option<Value> {
    let marker = if succeeded {
        RESULT_MARKER
    } else {
        ERROR_MARKER
    };
    let json = line.trim_end_matches(['\n', '\r']).strip_prefix(marker)?;
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(exit_code: i32, reason: &str) -> ContainerEnd {
        ContainerEnd {
            exit_code,
            reason: Some(reason.to_owned()),
        }
    }

    fn failed(reason: &str) -> JobEnd {
        JobEnd::Failed {
            reason: Some(reason.to_owned()),
        }
    }

    #[test]
    fn a_success_takes_its_result_from_the_final_line() {
        let done = finished(
            &JobEnd::Complete,
            Some(&end(0, "Completed")),
            Some("Job:ResultResponse: {\"mean\": 1.5}\n"),
        );
        assert_eq!(done.exit_code, 0);
        assert_eq!(done.result, Some(json!({"mean": 1.5})));
        assert_eq!(done.status.expect("status")["status"], "SUCCEEDED");
    }

    #[test]
    fn failures_keep_the_runners_exit_code_and_error() {
        let line = "Job:ErrorResponse: {\"code\": \"error\"}";
        let done = finished(
            &failed("BackoffLimitExceeded"),
            Some(&end(1, "Error")),
            Some(line),
        );
        assert_eq!(
            (done.exit_code, done.result),
            (1, Some(json!({"code": "error"})))
        );
        let oom = finished(
            &failed("BackoffLimitExceeded"),
            Some(&end(137, "OOMKilled")),
            None,
        );
        assert_eq!(oom.exit_code, 137);
        assert!(oom.oom_killed);
        let timeout = finished(
            &failed("BackoffLimitExceeded"),
            Some(&end(124, "Error")),
            None,
        );
        assert_eq!(timeout.exit_code, 124);
    }

    #[test]
    fn the_clusters_deadline_is_a_timeout_and_its_log_is_not_trusted() {
        let forged = "Job:ErrorResponse: {\"forged\": true}";
        let done = finished(
            &failed("DeadlineExceeded"),
            Some(&end(137, "Error")),
            Some(forged),
        );
        assert_eq!(done.exit_code, 124);
        assert!(done.timed_out_on_host);
        assert_eq!(done.result, None);
        let gone = finished(&failed("DeadlineExceeded"), None, None);
        assert_eq!(gone.exit_code, 124);
    }

    #[test]
    fn a_marker_that_does_not_match_the_outcome_is_ignored() {
        let line = "Job:ResultResponse: {\"forged\": true}";
        let done = finished(
            &failed("BackoffLimitExceeded"),
            Some(&end(1, "Error")),
            Some(line),
        );
        assert_eq!(done.result, None);
        let done = finished(
            &JobEnd::Complete,
            Some(&end(0, "Completed")),
            Some("print(1)"),
        );
        assert_eq!(done.result, None);
        let done = finished(
            &failed("BackoffLimitExceeded"),
            Some(&end(9, "Error")),
            Some(line),
        );
        assert_eq!((done.exit_code, done.result), (9, None));
    }
}
