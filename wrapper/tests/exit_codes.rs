//! The contract's exit code table, one scenario per row, with the error kind each gives.

mod support;

use serde_json::json;
use support::Job;

#[test]
fn every_row_of_the_exit_code_table() {
    let actions = || Job::new("contract-actions");
    let rows: Vec<(Job, i32, Option<&str>)> = vec![
        (actions(), 0, None),
        (Job::new("contract-raises"), 1, Some("exception")),
        (
            actions().params(&json!({"do": "return", "kind": "error_response"})),
            1,
            Some("error_response"),
        ),
        (
            actions().params(&json!({"do": "return", "kind": "bytes"})),
            1,
            Some("invalid_result"),
        ),
        (actions().input_file("data.json", "{"), 2, Some("input")),
        (Job::new("contract-import-error"), 3, Some("import")),
        (Job::new("contract-no-run"), 3, Some("entrypoint")),
        (
            actions()
                .env("JOBWRAP_TIMEOUT", "0.2")
                .env("JOBWRAP_KILL_GRACE", "0.2")
                .params(&json!({"do": "sleep", "seconds": 30})),
            124,
            Some("timeout"),
        ),
        (
            actions().params(&json!({"do": "kill_self"})),
            137,
            Some("killed"),
        ),
        (
            actions().env("JOBWRAP_TIMEOUT", "an hour"),
            125,
            Some("wrapper"),
        ),
        (
            actions().python("/nonexistent/python3".into()),
            125,
            Some("wrapper"),
        ),
    ];
    for (job, code, kind) in rows {
        let finished = job.run();
        finished.assert_consistent(code);
        match kind {
            Some(kind) => assert_eq!(finished.error_kind(), kind, "exit {code}"),
            None => assert!(finished.status()["error"].is_null()),
        }
    }
}

#[test]
fn a_malformed_setting_names_the_variable_and_the_expected_form() {
    let finished = Job::new("contract-actions")
        .env("JOBWRAP_MAX_RESULT_BYTES", "64MiB")
        .run();
    finished.assert_consistent(125);
    assert_eq!(
        finished.error_message(),
        "the runner's configuration is invalid: JOBWRAP_MAX_RESULT_BYTES=\"64MiB\" is not valid: \
         expected a positive whole number of bytes; fix or unset the variable"
    );
}

#[test]
fn no_python_is_named_with_the_remedy() {
    let finished = Job::new("contract-actions")
        .python("/nonexistent/python3".into())
        .run();
    finished.assert_consistent(125);
    let message = finished.error_message();
    assert!(
        message.contains("/nonexistent/python3") && message.contains("JOBWRAP_PYTHON"),
        "{message}"
    );
}
