//! The process tree: timeout with SIGTERM then SIGKILL, processes that outlive `run()`,
//! forgery after `run()` returns, kills.

mod support;

use serde_json::json;
use std::time::Duration;
use support::Job;

#[test]
fn timeout_sends_sigterm_and_reports_124() {
    let finished = Job::new("contract-actions")
        .env("JOBWRAP_TIMEOUT", "0.5")
        .params(&json!({"do": "sleep", "seconds": 30}))
        .run();
    finished.assert_consistent(124);
    assert_eq!(finished.error_kind(), "timeout");
    assert_eq!(finished.limits(), ["timeout"]);
    assert!(
        finished.elapsed < Duration::from_secs(10),
        "SIGTERM ended it: {:?}",
        finished.elapsed
    );
}

#[test]
fn a_job_ignoring_sigterm_is_killed_after_the_grace_period() {
    let finished = Job::new("contract-actions")
        .env("JOBWRAP_TIMEOUT", "0.5")
        .env("JOBWRAP_KILL_GRACE", "1")
        .params(&json!({"do": "sleep", "seconds": 30, "ignore_term": true}))
        .run();
    finished.assert_consistent(124);
    assert!(
        finished.elapsed >= Duration::from_millis(1500),
        "{:?}",
        finished.elapsed
    );
}

#[test]
fn a_child_ignoring_sigterm_does_not_survive_the_timeout() {
    let job = Job::new("contract-actions")
        // The pid file lies outside TMPDIR, which the sandbox makes read-only.
        .env("JOBWRAP_SANDBOX_DISABLE", "landlock")
        .env("JOBWRAP_TIMEOUT", "1")
        .env("JOBWRAP_KILL_GRACE", "1");
    let pidfile = job.scratch("child.pid");
    let job = job.params(&json!({"do": "child_ignores_term", "pidfile": pidfile}));
    let finished = job.run();
    finished.assert_consistent(124);
    assert!(
        !support::is_running(support::read_pid(&pidfile)),
        "the child was killed"
    );
}

#[test]
fn a_daemon_cannot_forge_the_result_after_run_returns() {
    let job = Job::new("contract-actions");
    let output_dir = job.output_dir();
    let job = job.params(&json!({"do": "forge_after_return", "output_dir": output_dir}));
    let finished = job.run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"honest": true}));
    assert!(!finished.stdout.contains("forged"), "{}", finished.stdout);
    // Give a surviving forger every chance to strike, then look again.
    std::thread::sleep(Duration::from_millis(800));
    let output = fs_err::read_to_string(output_dir.join("output.json")).expect("output");
    assert_eq!(output, r#"{"honest":true}"#);
}

#[test]
fn a_setsid_daemon_does_not_outlive_the_job() {
    let job = Job::new("contract-actions")
        // The pid file lies outside TMPDIR, which the sandbox makes read-only.
        .env("JOBWRAP_SANDBOX_DISABLE", "landlock");
    let pidfile = job.scratch("daemon.pid");
    let job = job.params(&json!({"do": "daemon_pidfile", "pidfile": pidfile}));
    let finished = job.run();
    finished.assert_consistent(0);
    assert!(
        !support::is_running(support::read_pid(&pidfile)),
        "the daemon was ended"
    );
}

#[test]
fn a_sigkilled_job_reports_137() {
    let finished = Job::new("contract-actions")
        .params(&json!({"do": "kill_self"}))
        .run();
    finished.assert_consistent(137);
    assert_eq!(finished.error_kind(), "killed");
}

#[test]
fn sigterm_to_the_runner_stops_the_job_with_137() {
    let job = Job::new("contract-actions").params(&json!({"do": "sleep", "seconds": 30}));
    let finished = job.run_signalled("TERM", Duration::from_millis(700));
    finished.assert_consistent(137);
    assert_eq!(finished.error_kind(), "terminated");
    assert!(
        finished.elapsed < Duration::from_secs(10),
        "{:?}",
        finished.elapsed
    );
}

#[test]
fn a_grandchild_holding_the_channel_cannot_forge_the_result() {
    let finished = Job::new("contract-actions")
        .params(&json!({"do": "forge_on_channel"}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"honest": true}));
    assert!(
        finished.stdout.contains("forger sent 1"),
        "the forger really had the channel: {}",
        finished.stdout
    );
    assert!(
        finished
            .stderr
            .contains("ignored 28 bytes sent on the result channel by processes other than"),
        "{}",
        finished.stderr
    );
}
