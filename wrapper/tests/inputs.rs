//! Every row of the contract's input table: sources, encodings, precedence, defaults.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use support::Job;

fn echo() -> Job {
    Job::new("contract-actions").params(&json!({"do": "echo"}))
}

fn echoed(job: &Job) -> serde_json::Value {
    let finished = job.run();
    finished.assert_consistent(0);
    finished.final_json()["data"].clone()
}

#[test]
fn job_template_paths_are_raw_json() {
    assert_eq!(
        echoed(&echo().input_file("data/data.json", r#"{"a": 1}"#)),
        json!({"a": 1})
    );
}

#[test]
fn docker_runtime_paths_are_used_when_the_template_paths_are_absent() {
    let job = Job::new("contract-actions")
        .input_file("data.json", r#"{"flat": true}"#)
        .input_file("params.json", r#"{"do": "echo"}"#);
    assert_eq!(echoed(&job), json!({"flat": true}));
}

#[test]
fn template_path_wins_over_the_docker_runtime_path() {
    let job = echo()
        .input_file("data/data.json", r#""template""#)
        .input_file("data.json", r#""flat""#);
    assert_eq!(echoed(&job), json!("template"));
}

#[test]
fn variables_are_base64_by_default() {
    let job = echo().env("DATA_VALUE", STANDARD.encode(r#"{"from": "env"}"#));
    assert_eq!(echoed(&job), json!({"from": "env"}));
}

#[test]
fn variables_are_raw_json_when_base64_encoded_is_false() {
    let job = Job::new("contract-actions")
        .env("BASE64_ENCODED", "false")
        .env("DATA_VALUE", "[1, 2]")
        .env("PARAMS_VALUE", r#"{"do": "echo"}"#);
    assert_eq!(echoed(&job), json!([1, 2]));
}

#[test]
fn files_are_base64_when_base64_encoded_is_true() {
    let encoded = STANDARD.encode(r#"{"decoded": "yes"}"#);
    let wrapped = format!("{}\n{}\n", &encoded[..10], &encoded[10..]);
    let job = Job::new("contract-actions")
        .env("BASE64_ENCODED", "true")
        .input_file("data/data.json", wrapped)
        .input_file("params/params.json", STANDARD.encode(r#"{"do": "echo"}"#));
    assert_eq!(echoed(&job), json!({"decoded": "yes"}));
}

#[test]
fn a_file_wins_over_the_variable() {
    let job = echo()
        .input_file("data/data.json", r#""file""#)
        .env("DATA_VALUE", STANDARD.encode(r#""variable""#));
    assert_eq!(echoed(&job), json!("file"));
}

#[test]
fn a_missing_input_is_an_empty_object() {
    let finished = Job::new("contract-actions").run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"data": {}, "params": {}}));
}

#[test]
fn large_input_under_the_cap_passes_whole() {
    let values: Vec<u32> = (0..200_000).collect();
    let job = echo().data(&json!({ "values": values }));
    let data = echoed(&job);
    assert_eq!(data["values"].as_array().map(Vec::len), Some(200_000));
}
