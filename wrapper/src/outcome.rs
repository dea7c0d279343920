//! The job's outcome: the contract's exit codes, `status.json`, and the result line.

use serde::{Deserialize, Serialize};

/// The final line's marker of a success, then its result (the `PlanQK` job template's).
pub const RESULT_MARKER: &str = "Job:ResultResponse: ";
/// The final line's marker of a failure, then its error response.
pub const ERROR_MARKER: &str = "Job:ErrorResponse: ";

/// The contract's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum JobExit {
    Succeeded = 0,
    Failed = 1,
    InvalidInput = 2,
    InvalidProject = 3,
    TimedOut = 124,
    WrapperFailed = 125,
    Killed = 137,
}

impl From<JobExit> for u8 {
    fn from(exit: JobExit) -> u8 {
        exit as u8
    }
}

impl TryFrom<u8> for JobExit {
    type Error = String;
    fn try_from(code: u8) -> Result<Self, String> {
        Ok(match code {
            0 => JobExit::Succeeded,
            1 => JobExit::Failed,
            2 => JobExit::InvalidInput,
            3 => JobExit::InvalidProject,
            124 => JobExit::TimedOut,
            125 => JobExit::WrapperFailed,
            137 => JobExit::Killed,
            other => return Err(format!("{other} is not one of jobwrap's exit codes")),
        })
    }
}

/// `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub status: JobState,
    pub exit_code: JobExit,
    pub duration_ms: u64,
    pub error: Option<JobError>,
    pub limits_hit: Vec<Limit>,
    /// The runner's protection layers that were active (see the README's security model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protections: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub kind: String,
    pub message: String,
    pub traceback: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Timeout,
    Memory,
    ResultSize,
    LogSize,
}

/// The outcome before timing: exit code, error, result JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit: JobExit,
    pub error: Option<JobError>,
    /// The JSON written to `output.json` and after the final marker.
    pub result: Vec<u8>,
    pub limits_hit: Vec<Limit>,
    /// The runner's protection layers that were active for the job.
    pub protections: Vec<String>,
}

impl Outcome {
    #[must_use]
    pub fn with_protections(mut self, protections: Vec<&str>) -> Self {
        self.protections = protections.into_iter().map(str::to_owned).collect();
        self
    }

    #[must_use]
    pub fn succeeded(result: Vec<u8>) -> Self {
        Outcome {
            exit: JobExit::Succeeded,
            error: None,
            result,
            limits_hit: Vec::new(),
            protections: Vec::new(),
        }
    }

    /// A failure without a result of the user's: the result is `{"code", "detail"}`.
    #[must_use]
    pub fn failed(exit: JobExit, kind: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let result = serde_json::json!({ "code": kind, "detail": message }).to_string();
        Outcome {
            exit,
            error: Some(JobError {
                kind: kind.to_owned(),
                message,
                traceback: None,
            }),
            result: result.into_bytes(),
            limits_hit: Vec::new(),
            protections: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_traceback(mut self, traceback: Option<String>) -> Self {
        if let Some(error) = &mut self.error {
            error.traceback = traceback;
        }
        self
    }

    #[must_use]
    pub fn with_limit(mut self, limit: Limit) -> Self {
        if !self.limits_hit.contains(&limit) {
            self.limits_hit.push(limit);
        }
        self
    }

    #[must_use]
    pub fn status(&self, duration_ms: u64, protections: Vec<String>) -> Status {
        Status {
            status: if self.exit == JobExit::Succeeded {
                JobState::Succeeded
            } else {
                JobState::Failed
            },
            exit_code: self.exit,
            duration_ms,
            error: self.error.clone(),
            limits_hit: self.limits_hit.clone(),
            protections,
        }
    }

    /// The last line of stdout, with the `PlanQK` job template's markers.
    #[must_use]
    pub fn final_line(&self) -> Vec<u8> {
        let marker = if self.exit == JobExit::Succeeded {
            RESULT_MARKER
        } else {
            ERROR_MARKER
        };
        let mut line = marker.as_bytes().to_vec();
        line.extend_from_slice(&self.result);
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_has_the_contract_shape() {
        let outcome = Outcome::failed(JobExit::TimedOut, "timeout", "took too long")
            .with_limit(Limit::Timeout);
        let json = serde_json::to_value(outcome.status(12, Vec::new())).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "status": "FAILED",
                "exit_code": 124,
                "duration_ms": 12,
                "error": {"kind": "timeout", "message": "took too long", "traceback": null},
                "limits_hit": ["timeout"],
            })
        );
        assert_eq!(
            outcome.final_line(),
            b"Job:ErrorResponse: {\"code\":\"timeout\",\"detail\":\"took too long\"}\n"
        );
    }

    #[test]
    fn success_line_carries_the_result_unchanged() {
        let outcome = Outcome::succeeded(b"{\"a\":1}".to_vec());
        assert_eq!(outcome.final_line(), b"Job:ResultResponse: {\"a\":1}\n");
        assert_eq!(outcome.status(1, Vec::new()).status, JobState::Succeeded);
    }
}
