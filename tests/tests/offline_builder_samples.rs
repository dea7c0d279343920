//! Each shared sample builds on `jobwrap/builder-offline` with the real pack and
//! lifecycle, and its image gives the contract's result with real inputs mounted.

use jobwrap_integration_tests::{built_image, in_image, offline_build, run_job, samples};
use libcnb_test::TestRunner;
use serde_json::json;

#[test]
fn planqk_template_returns_its_statistics() {
    let sample = samples::planqk_template();
    TestRunner::default().build(offline_build(sample.fixture), |context| {
        assert!(
            context
                .pack_stdout
                .contains("Installing jobwrap's runner into the launch layer.")
        );
        let image = built_image(&context.pack_stdout);
        let run = run_job(&image, sample.data.as_ref(), sample.params.as_ref(), &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.final_json(), sample.result);
        assert_eq!(run.output, Some(sample.result.clone()));
        assert_eq!(
            run.status.as_ref().map(|s| s["status"].clone()),
            Some(json!("SUCCEEDED"))
        );
        assert!(
            run.stdout.starts_with("processed 5 values\n"),
            "{}",
            run.stdout
        );
    });
}

#[test]
fn kwargs_style_echoes_its_word_with_the_shim_compiled_at_build_time() {
    let sample = samples::kwargs_style();
    TestRunner::default().build(offline_build(sample.fixture), |context| {
        let image = built_image(&context.pack_stdout);
        // The image's Python finds the shim's bytecode and never compiles it at start.
        let listing = in_image(&image, "ls \"$JOBWRAP_SHIM_DIR\"/__pycache__");
        assert!(listing.contains("jobwrap_shim.cpython-"), "{listing}");
        let run = run_job(&image, sample.data.as_ref(), sample.params.as_ref(), &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.final_json(), sample.result);
        assert!(!run.stderr.contains("built-in one"), "{}", run.stderr);
    });
}

#[test]
fn the_job_fails_with_exit_1_when_run_returns_an_error_response() {
    TestRunner::default().build(offline_build("planqk-template"), |context| {
        let image = built_image(&context.pack_stdout);
        let run = run_job(&image, Some(&json!({"values": []})), None, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(run.final_json()["code"], json!("400"));
        assert_eq!(
            run.status.as_ref().map(|s| s["status"].clone()),
            Some(json!("FAILED"))
        );
    });
}

#[test]
fn environment_values_work_without_mounted_files() {
    TestRunner::default().build(offline_build("kwargs-style"), |context| {
        let image = built_image(&context.pack_stdout);
        // base64 of {"word":"yo"} and {"times":2}
        let run = run_job(
            &image,
            None,
            None,
            &[
                "--env",
                "DATA_VALUE=eyJ3b3JkIjoieW8ifQ==",
                "--env",
                "PARAMS_VALUE=eyJ0aW1lcyI6Mn0=",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.final_json()["echo"], json!("yo yo"));
    });
}

#[test]
fn the_app_and_the_layers_are_not_writable_by_the_job() {
    TestRunner::default().build(offline_build("kwargs-style"), |context| {
        let image = built_image(&context.pack_stdout);
        // Without --read-only: the image's own permissions must hold.
        for target in [
            "/workspace/new-file",
            "/workspace/src/new-file",
            "/layers/jobwrap_job-template/runner/bin/x",
        ] {
            let output = std::process::Command::new("docker")
                .args([
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "--entrypoint",
                    "/bin/sh",
                    &image,
                    "-c",
                ])
                .arg(format!("touch {target}"))
                .output()
                .expect("docker runs");
            assert!(!output.status.success(), "the job could write {target}");
            assert!(String::from_utf8_lossy(&output.stderr).contains("Permission denied"));
        }
    });
}
