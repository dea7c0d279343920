//! The runner's signed report, for platforms that read the result from the log.
//!
//! On Kubernetes the log is the only way out for the result, and the user's code writes
//! to the same log. So, after every job process has ended, the runner also writes a
//! small report to the container's termination message (`/dev/termination-log`, which
//! the kubelet hands to the API server): the status and the SHA-256 of the result,
//! signed with HMAC-SHA256 under a per-run key that only the runner sees
//! (`JOBWRAP_RESULT_KEY`; `JOBWRAP_*` never reaches the job). A reader with the key
//! accepts the log line whose result has that hash, and nothing else.
//!
//! The file holds two lines: the report's JSON, then the hex HMAC of exactly those bytes.
//! [`signed`] and [`verify`] are both sides of that format; the host verifies with them.

use crate::outcome::{JobError, Status};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The kubelet reads at most 4096 bytes of a termination message.
const MAX_REPORT_BYTES: usize = 4096;
/// Error messages are cut to this many characters to stay within that.
const MAX_MESSAGE_CHARS: usize = 1024;
/// A shorter key would be guessable.
const MIN_KEY_BYTES: usize = 16;

/// Where to write and what to sign with, from the runner's environment.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    path: PathBuf,
    key: Option<Vec<u8>>,
}

impl Settings {
    /// `JOBWRAP_TERMINATION_LOG` (default `/dev/termination-log`) and `JOBWRAP_RESULT_KEY`.
    pub(crate) fn from_env(lookup: &dyn Fn(&str) -> Option<OsString>) -> Self {
        let key = lookup("JOBWRAP_RESULT_KEY")
            .map(OsString::into_encoded_bytes)
            .filter(|key| {
                let long_enough = key.len() >= MIN_KEY_BYTES;
                if !long_enough {
                    crate::log::error(format_args!(
                        "JOBWRAP_RESULT_KEY is shorter than {MIN_KEY_BYTES} bytes; the report is not signed"
                    ));
                }
                long_enough
            });
        Settings {
            path: lookup("JOBWRAP_TERMINATION_LOG")
                .map_or_else(|| "/dev/termination-log".into(), PathBuf::from),
            key,
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    status: &'a Status,
    result_sha256: String,
}

/// Writes the report if the platform provides the file (Docker does not; the kubelet
/// mounts one into every container). Never creates it.
pub(crate) fn write(settings: &Settings, status: &Status, result: &[u8]) {
    if !settings.path.is_file() {
        return;
    }
    let contents = report(settings.key.as_deref(), status, result);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&settings.path)
        .and_then(|mut file| file.write_all(&contents));
    if let Err(error) = written {
        crate::log::error(format_args!(
            "cannot write the report to {}: {error}",
            settings.path.display()
        ));
    }
}

fn report(key: Option<&[u8]>, status: &Status, result: &[u8]) -> Vec<u8> {
    let mut status = status.clone();
    // The traceback stays in status.json and the log; the report has no room for it.
    if let Some(error) = &mut status.error {
        *error = JobError {
            kind: error.kind.clone(),
            message: error.message.chars().take(MAX_MESSAGE_CHARS).collect(),
            traceback: None,
        };
    }
    let report = Report {
        status: &status,
        result_sha256: sha256_hex(result),
    };
    let json = serde_json::to_string(&report).unwrap_or_default();
    let mut contents = key
        .and_then(|key| signed(key, &json))
        .unwrap_or(json)
        .into_bytes();
    contents.truncate(MAX_REPORT_BYTES);
    contents
}

/// `json`, then a line with its hex HMAC-SHA256 under `key`.
#[must_use]
pub fn signed(key: &[u8], json: &str) -> Option<String> {
    let signature = mac(key, json.as_bytes())?.finalize().into_bytes();
    Some(format!("{json}\n{}", hex(&signature)))
}

/// The report's JSON, if `message` was signed with `key` (compared in constant time).
#[must_use]
pub fn verify<'a>(message: &'a str, key: &[u8]) -> Option<&'a str> {
    let (json, signature) = message.trim_end().rsplit_once('\n')?;
    mac(key, json.as_bytes())?
        .verify_slice(&unhex(signature.trim())?)
        .ok()?;
    Some(json)
}

/// The hex SHA-256 of `bytes`, as the report gives the result's.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `None` never happens (HMAC takes keys of any length); if it did, nothing is signed.
fn mac(key: &[u8], message: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(message);
    Some(mac)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// Lowercase hex digits of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{JobExit, Outcome};

    fn status() -> Status {
        Outcome::failed(JobExit::Failed, "exception", "x".repeat(10_000)).status(5, vec![])
    }

    #[test]
    fn the_report_is_signed_and_fits_a_termination_message() {
        let key = b"0123456789abcdef0123456789abcdef";
        let contents = report(Some(key), &status(), b"{\"a\":1}");
        assert!(contents.len() <= MAX_REPORT_BYTES);
        let text = String::from_utf8(contents).expect("utf-8");
        let json = verify(&text, key).expect("signed with the key");
        let value: serde_json::Value = serde_json::from_str(json).expect("json");
        assert_eq!(value["exit_code"], 1);
        assert_eq!(
            value["result_sha256"],
            sha256_hex(b"{\"a\":1}"),
            "the hash of exactly the bytes after the marker"
        );
        assert_eq!(
            value["error"]["message"].as_str().map(str::len),
            Some(MAX_MESSAGE_CHARS)
        );
        assert!(value["error"]["traceback"].is_null());
        // Another key, or a changed report, does not verify.
        assert!(verify(&text, b"another key, also long enough").is_none());
        assert!(verify(&text.replacen("FAILED", "SUCCEEDED", 1), key).is_none());
        assert!(verify(json, key).is_none(), "unsigned");
    }

    #[test]
    fn the_file_is_written_only_where_the_platform_made_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("termination-log");
        let settings = Settings {
            path: path.clone(),
            key: Some(b"0123456789abcdef".to_vec()),
        };
        write(&settings, &status(), b"{}");
        assert!(!path.exists(), "never created");
        fs_err::write(&path, "forged by the job\n".repeat(1000)).expect("platform's file");
        write(&settings, &status(), b"{}");
        let written = fs_err::read_to_string(&path).expect("written");
        assert!(!written.contains("forged"), "replaced, not appended");
        let short =
            Settings::from_env(&|name| (name == "JOBWRAP_RESULT_KEY").then(|| "short".into()));
        assert!(short.key.is_none());
    }
}
