//! Return values: conversion rules, `ErrorResponse`, invalid results.

mod support;

use serde_json::{Value, json};
use support::Job;

fn returning(kind: &str) -> support::Finished {
    Job::new("contract-actions")
        .params(&json!({"do": "return", "kind": kind}))
        .run()
}

#[test]
fn json_values_and_containers_convert() {
    for (kind, expected) in [
        ("dict", json!({"a": 1})),
        ("tuple", json!([1, 2])),
        ("set", json!([1, 2, 3])),
        ("none", Value::Null),
        (
            "int_keys",
            json!({"1": "one", "2.5": "half", "false": "no"}),
        ),
        ("mixed_set", json!({"s": ["a"]})),
        ("object", json!({"x": 1, "y": [2, 3]})),
        ("to_json", json!({"via": "to_json"})),
        (
            "to_dict",
            json!({"via": "to_dict", "nested": {"x": 1, "y": [2, 3]}}),
        ),
    ] {
        let finished = returning(kind);
        finished.assert_consistent(0);
        assert_eq!(finished.final_json(), expected, "{kind}");
    }
}

#[test]
fn an_error_response_fails_the_job_with_its_fields() {
    let finished = returning("error_response");
    finished.assert_consistent(1);
    assert_eq!(finished.error_kind(), "error_response");
    assert_eq!(
        finished.final_json(),
        json!({"code": "400", "detail": "bad request"})
    );
}

#[test]
fn values_json_cannot_hold_are_invalid_results_naming_the_path() {
    for (kind, expected) in [
        ("nan", "result.bad: nan is not a finite number"),
        ("bytes", "result.raw: a value of type bytes"),
        ("cycle", "nested more than 500 levels"),
        (
            "datetime",
            "result.items[3].when: a value of type datetime is not JSON-serialisable",
        ),
        (
            "function",
            "result.f: a value of type builtin_function_or_method",
        ),
        ("module", "result.m: a value of type module"),
    ] {
        let finished = returning(kind);
        finished.assert_consistent(1);
        assert_eq!(finished.error_kind(), "invalid_result", "{kind}");
        assert!(
            finished.error_message().contains(expected),
            "{kind}: {}",
            finished.error_message()
        );
    }
}

#[test]
fn an_exception_fails_with_its_message_and_traceback() {
    let finished = Job::new("contract-raises").run();
    finished.assert_consistent(1);
    assert_eq!(finished.error_kind(), "exception");
    assert_eq!(
        finished.final_json(),
        json!({"code": "exception", "detail": "ValueError: the answer is not 42"})
    );
    let traceback = finished.status()["error"]["traceback"]
        .as_str()
        .expect("traceback");
    assert!(traceback.contains("raise ValueError"), "{traceback}");
    assert!(
        finished.stderr.contains("Traceback"),
        "the traceback is logged too"
    );
    assert!(finished.stdout.starts_with("about to fail\n"));
}

#[test]
fn sys_exit_in_run_is_an_exception() {
    let finished = Job::new("contract-actions")
        .params(&json!({"do": "sys_exit"}))
        .run();
    finished.assert_consistent(1);
    assert_eq!(finished.error_kind(), "exception");
    assert!(finished.error_message().starts_with("SystemExit"));
}

#[test]
fn ending_the_process_inside_run_gives_no_result() {
    let finished = Job::new("contract-actions")
        .params(&json!({"do": "exit_process"}))
        .run();
    finished.assert_consistent(1);
    assert_eq!(finished.error_kind(), "no_result");
}

#[test]
fn a_result_over_the_cap_fails_with_result_size() {
    let finished = Job::new("contract-actions")
        .env("JOBWRAP_MAX_RESULT_BYTES", "1000")
        .params(&json!({"do": "big_result", "bytes": 5000}))
        .run();
    finished.assert_consistent(1);
    assert_eq!(finished.error_kind(), "result_size");
    assert_eq!(finished.limits(), ["result_size"]);
}

#[test]
fn a_result_just_under_the_cap_passes() {
    let finished = Job::new("contract-actions")
        .env("JOBWRAP_MAX_RESULT_BYTES", "1000")
        .params(&json!({"do": "big_result", "bytes": 998}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json().as_str().map(str::len), Some(998));
}
