//! The runner as PID 1 of its PID namespace, as in a container: it reaps orphans, ends
//! every process with `kill(-1)`, and ignores signals the job sends it.

mod support;

use serde_json::json;
use std::time::Duration;
use support::Job;

#[test]
fn a_daemon_is_ended_and_cannot_forge_the_result() {
    let job = Job::new("contract-actions").in_own_pid_namespace();
    let output_dir = job.output_dir();
    let job = job.params(&json!({"do": "forge_after_return", "output_dir": output_dir}));
    let finished = job.run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"honest": true}));
    assert!(!finished.stdout.contains("forged"), "{}", finished.stdout);
    std::thread::sleep(Duration::from_millis(800));
    let output = fs_err::read_to_string(output_dir.join("output.json")).expect("output");
    assert_eq!(output, r#"{"honest":true}"#);
}

#[test]
fn a_child_ignoring_sigterm_does_not_survive_the_timeout() {
    let job = Job::new("contract-actions")
        // The pid file lies outside TMPDIR, which the sandbox makes read-only.
        .env("JOBWRAP_SANDBOX_DISABLE", "landlock")
        .in_own_pid_namespace()
        .env("JOBWRAP_TIMEOUT", "0.5")
        .env("JOBWRAP_KILL_GRACE", "0.5");
    let pidfile = job.scratch("child.pid");
    let finished = job
        .params(&json!({"do": "child_ignores_term", "pidfile": pidfile}))
        .run();
    finished.assert_consistent(124);
    assert_eq!(finished.limits(), ["timeout"]);
}

#[test]
fn the_job_cannot_stop_the_runner() {
    // Landlock's signal scope refuses the kill outright; this tests the runner's own
    // check behind it (a signal from inside the namespace is ignored).
    let finished = Job::new("contract-actions")
        .in_own_pid_namespace()
        .env("JOBWRAP_SANDBOX_DISABLE", "landlock")
        .params(&json!({"do": "signal_pid_one"}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"still": "running"}));
    assert!(
        finished.stderr.contains("ignored SIGTERM sent by process"),
        "{}",
        finished.stderr
    );
}

#[test]
fn a_stop_signal_from_outside_ends_the_job_with_137() {
    let job = Job::new("contract-actions")
        .in_own_pid_namespace()
        .env("JOBWRAP_KILL_GRACE", "0.5")
        .params(&json!({"do": "sleep", "seconds": 30, "ignore_term": true}));
    let finished = job.run_signalled("TERM", Duration::from_millis(700));
    finished.assert_consistent(137);
    assert_eq!(finished.error_kind(), "terminated");
    assert!(
        finished.elapsed < Duration::from_secs(5),
        "{:?}",
        finished.elapsed
    );
}
