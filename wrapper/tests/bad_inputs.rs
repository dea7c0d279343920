//! Bad inputs never start the user's code: exit 2 and a message naming the input.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use support::Job;

fn assert_input_error(job: &Job, expected: &[&str]) {
    let finished = job.run();
    finished.assert_consistent(2);
    assert_eq!(finished.error_kind(), "input");
    let message = finished.error_message();
    for part in expected {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
    assert!(
        !finished.stdout.contains("about to"),
        "user code must not run"
    );
    assert!(!finished.stderr.contains("panicked"), "{}", finished.stderr);
}

fn actions() -> Job {
    Job::new("contract-actions").params(&json!({"do": "echo"}))
}

#[test]
fn truncated_json_names_the_input_and_position() {
    let job = actions().input_file("data/data.json", r#"{"values": [1, 2"#);
    assert_input_error(
        &job,
        &[
            "'data'",
            "data/data.json",
            "not valid JSON",
            "line 1 column 17",
        ],
    );
}

#[test]
fn invalid_base64_names_the_variable_and_offset() {
    let job = actions().env("DATA_VALUE", "eyJh*IjogMX0=");
    assert_input_error(
        &job,
        &["'data'", "DATA_VALUE", "not valid base64", "'*' at byte 4"],
    );
}

#[test]
fn non_utf8_bytes_name_the_offset() {
    let job = actions().input_file("data/data.json", b"{\"a\": \"\xff\"}");
    assert_input_error(&job, &["'data'", "not valid UTF-8", "0xff at offset 7"]);
}

#[test]
fn an_input_over_the_cap_is_refused() {
    let job = actions()
        .env("JOBWRAP_MAX_INPUT_BYTES", "100")
        .input_file("data/data.json", format!("\"{}\"", "x".repeat(200)));
    assert_input_error(&job, &["'data'", "JOBWRAP_MAX_INPUT_BYTES=100"]);
}

#[test]
fn the_cap_applies_after_decoding_base64() {
    let job = actions().env("JOBWRAP_MAX_INPUT_BYTES", "100").env(
        "DATA_VALUE",
        STANDARD.encode(format!("\"{}\"", "x".repeat(200))),
    );
    assert_input_error(&job, &["'data'", "DATA_VALUE", "after decoding"]);
}

#[test]
fn a_directory_where_the_file_should_be() {
    let job = Job::new("contract-actions");
    fs_err::create_dir_all(job.input_dir().join("params/params.json")).expect("dir");
    assert_input_error(
        &job,
        &["'params'", "params/params.json", "not a regular file"],
    );
}

#[test]
fn json_nested_100_000_levels_deep() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let job = actions().input_file("data/data.json", deep);
    assert_input_error(&job, &["'data'", "nested too deeply"]);
}

#[test]
fn invalid_json_in_a_variable() {
    let job = actions()
        .env("BASE64_ENCODED", "false")
        .env("DATA_VALUE", "{nope");
    assert_input_error(&job, &["'data'", "DATA_VALUE", "not valid JSON"]);
}

#[test]
fn an_invalid_base64_encoded_setting_is_a_wrapper_error() {
    let finished = actions().env("BASE64_ENCODED", "perhaps").run();
    finished.assert_consistent(125);
    assert!(
        finished.error_message().contains("BASE64_ENCODED"),
        "{}",
        finished.error_message()
    );
}

#[test]
fn a_fifo_where_the_file_should_be_does_not_stall_the_runner() {
    let job = Job::new("contract-actions");
    let fifo = job.input_dir().join("data.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    assert_input_error(&job, &["'data'", "data.json", "not a regular file"]);
}

#[test]
fn an_empty_input_file_is_invalid_json() {
    let job = actions().input_file("data/data.json", "");
    assert_input_error(&job, &["'data'", "not valid JSON", "line 1 column 1"]);
}

#[test]
fn invalid_base64_in_a_file_names_the_file() {
    let job = actions()
        .env("BASE64_ENCODED", "true")
        .input_file("data/data.json", "eyJh\nIj!ogMX0=")
        .input_file("params/params.json", STANDARD.encode(r#"{"do": "echo"}"#));
    assert_input_error(
        &job,
        &[
            "'data'",
            "data/data.json",
            "not valid base64",
            "'!' at byte 7",
        ],
    );
}

#[test]
fn params_errors_name_params() {
    let job = Job::new("contract-actions").env("PARAMS_VALUE", STANDARD.encode("[1,"));
    assert_input_error(&job, &["'params'", "PARAMS_VALUE", "not valid JSON"]);
}
