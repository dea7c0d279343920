//! The shared sample projects run through the real runner with their expected results.

mod support;

use serde_json::json;
use support::Job;

#[test]
fn planqk_template_with_its_input_folder() {
    let sample = support::fixture("planqk-template");
    let job = Job::new("planqk-template")
        .input_file(
            "data.json",
            fs_err::read(sample.join("input/data.json")).expect("data"),
        )
        .input_file(
            "params.json",
            fs_err::read(sample.join("input/params.json")).expect("params"),
        );
    let finished = job.run();
    finished.assert_consistent(0);
    assert_eq!(
        finished.final_json(),
        json!({"result": {"mean": 84.138, "spread": 199.31}, "metadata": {"count": 5}})
    );
    assert!(
        finished.stdout.starts_with("processed 5 values\n"),
        "{}",
        finished.stdout
    );
}

#[test]
fn planqk_template_error_response_without_values() {
    let finished = Job::new("planqk-template").run();
    finished.assert_consistent(1);
    assert_eq!(finished.error_kind(), "error_response");
    assert_eq!(
        finished.final_json(),
        json!({"code": "400", "detail": "data.values must be a non-empty list of numbers"})
    );
}

#[test]
fn kwargs_style_gets_keywords() {
    let finished = Job::new("kwargs-style")
        .data(&json!({"word": "hi"}))
        .params(&json!({"times": 3}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(
        finished.final_json(),
        json!({"echo": "hi hi hi", "keys": ["data", "params"]})
    );
}

#[test]
fn numpy_values_become_numbers_and_lists() {
    let finished = Job::new("numpy-result")
        .python(support::python_with_numpy())
        .data(&json!({"matrix": [[2.0, 0.0], [0.0, 3.0]]}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(
        finished.final_json(),
        json!({"eigenvalues": [4.0, 9.0], "trace": 5.0, "shape": [2, 2]})
    );
}
