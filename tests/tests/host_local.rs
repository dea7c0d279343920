//! `jobwrap run --local`: no Docker, the same runner with this machine's Python; the
//! result and exit code match the container path's.

use jobwrap_integration_tests::{fixture, jobwrap_binary, samples};
use serde_json::{Value, json};
use std::process::Command;

fn run_local(project: &str, args: &[&str], params: Option<Value>) -> (i32, Value, String) {
    let files = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(jobwrap_binary());
    command
        .args(["run", "--local"])
        .arg(fixture(project))
        .args(args);
    if let Some(params) = params {
        let path = files.path().join("params.json");
        fs_err::write(&path, params.to_string()).expect("params");
        command.arg("--params").arg(path);
    }
    let output = command.output().expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("JSON on stdout: {stdout}\n{stderr}"));
    (output.status.code().expect("exit code"), result, stderr)
}

#[test]
fn the_sample_gives_the_same_result_as_in_a_container() {
    let (code, result, stderr) = run_local("kwargs-style", &[], Some(json!({"times": 2})));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(result, json!({"echo": " ", "keys": ["data", "params"]}));
    assert!(
        stderr.contains("Job:ResultResponse: "),
        "the job's log and marker go to stderr"
    );
}

#[test]
fn failures_and_timeouts_give_the_contract_s_exit_codes() {
    let failing = samples::failing();
    let (code, result, _) = run_local(failing.fixture, &[], None);
    assert_eq!((code, result), (1, failing.result));
    let (code, result, _) = run_local(
        "contract-actions",
        &["--timeout", "1"],
        Some(json!({"do": "sleep", "seconds": 30})),
    );
    assert_eq!(code, 124);
    assert_eq!(result["code"], json!("timeout"));
    let (code, _, stderr) = run_local("contract-no-run", &[], None);
    assert_eq!(code, 3, "{stderr}");
}
