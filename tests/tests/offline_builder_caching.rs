//! A second build of an unchanged app reuses the cached layers.

use jobwrap_integration_tests::{built_image, offline_build, run_job};
use libcnb_test::TestRunner;
use serde_json::json;

#[test]
fn an_unchanged_app_reuses_the_venv_and_runner_layers() {
    let config = offline_build("kwargs-style");
    TestRunner::default().build(&config, |context| {
        assert!(
            context
                .pack_stdout
                .contains("Creating a virtual environment.")
        );
        assert!(
            context
                .pack_stdout
                .contains("Installing jobwrap's runner into the launch layer.")
        );
        context.rebuild(&config, |rebuilt| {
            let stdout = &rebuilt.pack_stdout;
            assert!(
                stdout.contains(
                    "Reusing the cached virtual environment (Python and requirements unchanged)."
                ),
                "{stdout}"
            );
            assert!(
                stdout.contains("Reusing the cached runner layer (unchanged runner)."),
                "{stdout}"
            );
            assert!(
                stdout.contains("Reusing layer 'jobwrap/python:venv'"),
                "{stdout}"
            );
            assert!(
                stdout.contains("Reusing layer 'jobwrap/job-template:runner'"),
                "{stdout}"
            );
            let run = run_job(
                &built_image(stdout),
                Some(&json!({"word": "again"})),
                None,
                &[],
            );
            assert_eq!(run.final_json()["echo"], json!("again"));
        });
    });
}
