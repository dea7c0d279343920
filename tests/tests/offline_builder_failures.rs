//! Projects that cannot become job images fail with a message saying why.

use jobwrap_integration_tests::offline_build;
use libcnb_test::{PackResult, TestRunner};

#[test]
fn a_directory_that_is_not_a_job_project_fails_detection() {
    let mut config = offline_build("not-a-job");
    config.expected_pack_result(PackResult::Failure);
    TestRunner::default().build(config, |context| {
        let output = format!("{}{}", context.pack_stdout, context.pack_stderr);
        assert!(
            output.contains(
                "No job project here: looked for any of planqk.json, jobwrap.toml, src/program.py"
            ),
            "{output}"
        );
        assert!(
            output.contains("No buildpack groups passed detection"),
            "{output}"
        );
    });
}

#[test]
fn a_syntax_error_fails_the_build_with_file_and_line() {
    let mut config = offline_build("syntax-error");
    config.expected_pack_result(PackResult::Failure);
    TestRunner::default().build(config, |context| {
        let output = format!("{}{}", context.pack_stdout, context.pack_stderr);
        assert!(output.contains("src/program.py:4:"), "{output}");
        assert!(output.contains("syntax error"), "{output}");
        assert!(output.contains("def run(data, params)"), "{output}");
    });
}
