//! The user's output passes through unchanged, up to the log cap; the result line is last.

mod support;

use serde_json::json;
use support::Job;

#[test]
fn stdout_and_stderr_pass_through_unchanged_before_the_final_line() {
    let finished = Job::new("contract-actions")
        .params(&json!({"do": "stderr_and_stdout"}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(
        finished.stdout,
        "to stdout\nPlanQK:Job:InterimResult: {\"step\": 1}\nno newline at the end\n\
         Job:ResultResponse: {\"logged\":true}\n"
    );
    assert!(finished.stderr.contains("to stderr\n"));
}

#[test]
fn output_over_the_log_cap_is_dropped_and_counted() {
    let finished = Job::new("contract-actions")
        .env("JOBWRAP_MAX_LOG_BYTES", "1000")
        .params(&json!({"do": "flood", "lines": 100}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(
        finished.stdout.lines().count(),
        11,
        "ten lines of 100 bytes, then the result"
    );
    assert!(
        finished.stderr.contains(
            "jobwrap: dropped 9000 bytes of log output (limit JOBWRAP_MAX_LOG_BYTES=1000)"
        ),
        "{}",
        finished.stderr
    );
    assert_eq!(finished.limits(), ["log_size"]);
}

#[test]
fn log_level_error_silences_the_runner() {
    let finished = Job::new("contract-actions").env("LOG_LEVEL", "ERROR").run();
    finished.assert_consistent(0);
    assert_eq!(finished.stderr, "");
}

#[test]
fn the_log_cap_notice_is_printed_at_any_log_level_and_pipes_keep_draining() {
    // 2 MB through a 1000-byte cap: the job would block on a full pipe if it was not read.
    let finished = Job::new("contract-actions")
        .env("JOBWRAP_MAX_LOG_BYTES", "1000")
        .env("LOG_LEVEL", "ERROR")
        .params(&json!({"do": "flood", "lines": 20_000}))
        .run();
    finished.assert_consistent(0);
    let expected: String = format!("{}\n", "x".repeat(99)).repeat(10);
    assert_eq!(
        finished.stdout,
        format!("{expected}Job:ResultResponse: {{\"flooded\":true}}\n")
    );
    assert_eq!(
        finished.stderr,
        "jobwrap: dropped 1999000 bytes of log output (limit JOBWRAP_MAX_LOG_BYTES=1000)\n"
    );
    assert_eq!(finished.limits(), ["log_size"]);
}
