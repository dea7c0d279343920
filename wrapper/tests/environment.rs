//! The user's code gets only the allowed variables, a private temporary folder, and
//! no open descriptors of the runner's.

mod support;

use serde_json::json;
use support::Job;

#[test]
fn secrets_and_jobwrap_settings_are_not_passed() {
    let job = Job::new("contract-actions")
        .env("AWS_SECRET_ACCESS_KEY", "hunter2")
        .env("LANG", "C.UTF-8")
        .env("JOBWRAP_TIMEOUT", "60")
        .params(&json!({"do": "environment"}));
    let finished = job.run();
    finished.assert_consistent(0);
    let seen = finished.final_json();
    let environ = seen["environ"].as_object().expect("environ");
    let mut names: Vec<&str> = environ.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["HOME", "LANG", "PATH", "TEMP", "TMP", "TMPDIR"]);
    let tmpdir = seen["tmpdir"].as_str().expect("tmpdir");
    assert_eq!(environ["TMPDIR"], json!(tmpdir));
    assert!(tmpdir.contains("jobwrap-job-"), "{tmpdir}");
    assert!(
        !std::path::Path::new(tmpdir).exists(),
        "the private folder is removed afterwards"
    );
}

#[test]
fn only_stdio_is_open_in_the_user_code() {
    let finished = Job::new("contract-actions")
        .params(&json!({"do": "environment"}))
        .run();
    finished.assert_consistent(0);
    // 0-2, the result channel (never inherited by children), and the listing's own one.
    let fds = finished.final_json()["fds"].clone();
    let fds = fds.as_array().expect("a list");
    assert_eq!(fds.len(), 5, "{fds:?}");
    assert_eq!(fds[..3], [0, 1, 2]);
}

#[test]
fn variables_a_buildpack_layer_sets_are_passed() {
    let job = Job::new("contract-actions");
    let env_dir = job.scratch("no-layers/jobwrap_python/venv/env.launch");
    fs_err::create_dir_all(&env_dir).expect("layer env dir");
    fs_err::write(env_dir.join("MPLBACKEND.override"), "Agg").expect("env file");
    fs_err::write(env_dir.join("DATA_VALUE.override"), "x").expect("env file");
    let finished = job
        .env("MPLBACKEND", "Agg")
        .env("OTHER_SETTING", "not from a layer")
        .env("CNB_APP_DIR", "/workspace")
        .env("LC_ALL", "C.UTF-8")
        .env("DATA_VALUE", "e30=")
        .params(&json!({"do": "environment"}))
        .run();
    finished.assert_consistent(0);
    let environ = finished.final_json()["environ"].clone();
    assert_eq!(environ["MPLBACKEND"], json!("Agg"));
    assert_eq!(environ["CNB_APP_DIR"], json!("/workspace"));
    assert_eq!(environ["LC_ALL"], json!("C.UTF-8"));
    assert!(environ.get("OTHER_SETTING").is_none(), "{environ}");
    assert!(environ.get("DATA_VALUE").is_none(), "{environ}");
}
