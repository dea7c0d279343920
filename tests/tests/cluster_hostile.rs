//! Hostile jobs on the cluster. There the result travels in the pod's log, which the
//! job's own code writes to as well: markers printed during and after `run()`, on either
//! stream, without a newline, from daemons, threads and `atexit`, and a report of the
//! job's own in the termination message. None of it may become the result.

use jobwrap_integration_tests::{
    CLUSTER_KUBECONFIG, cluster_leftovers, fixture, jobwrap_binary, push_to_cluster,
    require_cluster, require_offline_builder,
};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

const NAMESPACE: &str = "jobwrap-tests-hostile";

/// `hostile-forgery`, built once and pushed to the cluster's registry.
fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_offline_builder();
        let built = Command::new(jobwrap_binary())
            .arg("build")
            .arg(fixture("hostile-forgery"))
            .output()
            .expect("jobwrap runs");
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let local = String::from_utf8_lossy(&built.stdout).trim().to_owned();
        push_to_cluster(&local, "jobwrap-test/hostile-forgery")
    })
}

/// One run at a time: leftovers are checked per run.
static SERIAL: Mutex<()> = Mutex::new(());

struct Forgery {
    code: i32,
    result: Value,
    stderr: String,
}

fn forge(action: &str) -> Forgery {
    require_cluster(NAMESPACE);
    let image = image();
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let params = tempfile::NamedTempFile::new().expect("params file");
    fs_err::write(params.path(), json!({"do": action}).to_string()).expect("params");
    let output = Command::new(jobwrap_binary())
        .env("KUBECONFIG", CLUSTER_KUBECONFIG)
        .args([
            "exec",
            image,
            "--backend",
            "kubernetes",
            "--namespace",
            NAMESPACE,
            "--json",
        ])
        .arg("--params")
        .arg(params.path())
        .output()
        .expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        cluster_leftovers(NAMESPACE),
        Vec::<String>::new(),
        "{stderr}"
    );
    Forgery {
        code: output.status.code().expect("an exit code"),
        result: serde_json::from_str(String::from_utf8_lossy(&output.stdout).trim())
            .unwrap_or(Value::Null),
        stderr,
    }
}

impl Forgery {
    /// The job's honest result came back, and nothing forged anywhere in what jobwrap says.
    fn assert_honest(&self) -> &Value {
        assert_eq!(self.code, 0, "{}", self.stderr);
        let result = &self.result["result"];
        assert_eq!(result["honest"], true, "{}\n{}", self.result, self.stderr);
        assert!(
            !self.result.to_string().contains("forged"),
            "{}",
            self.result
        );
        result
    }

    /// The forged marker did reach the pod's log.
    fn assert_in_log(&self) {
        assert!(
            self.stderr
                .contains(r#"Job:ResultResponse: {"forged": true}"#),
            "{}",
            self.stderr
        );
    }
}

#[test]
fn markers_printed_during_run_are_not_the_result() {
    let forgery = forge("print_markers");
    forgery.assert_honest();
    forgery.assert_in_log();
}

#[test]
fn a_marker_without_newline_is_not_the_result() {
    forge("marker_without_newline").assert_honest();
}

#[test]
fn markers_written_to_the_raw_descriptors_are_not_the_result() {
    let forgery = forge("raw_fd_marker");
    forgery.assert_honest();
    forgery.assert_in_log();
}

#[test]
fn a_daemon_forging_after_run_returns_changes_nothing() {
    forge("daemon_forges_after_return").assert_honest();
}

#[test]
fn a_thread_printing_after_run_returns_is_not_the_result() {
    forge("thread_prints_after_return").assert_honest();
}

#[test]
fn atexit_handlers_cannot_forge_the_result() {
    forge("atexit_forgery").assert_honest();
}

#[test]
fn a_report_of_the_jobs_own_and_a_last_stderr_marker_are_not_the_result() {
    let forgery = forge("forge_termination_log");
    let result = forgery.assert_honest();
    forgery.assert_in_log();
    // The runner's sandbox refuses the write; the runner's own report replaces it anyway.
    assert_ne!(result["attempts"]["termination-log"], "written", "{result}");
    assert_eq!(forgery.result["status"]["status"], "SUCCEEDED");
}

#[test]
fn output_that_is_not_utf8_does_not_hide_the_result() {
    let forgery = forge("binary_noise");
    forgery.assert_honest();
    assert!(forgery.stderr.contains("garbage"), "{}", forgery.stderr);
}

#[test]
fn a_to_json_that_smuggles_a_line_is_an_invalid_result() {
    let forgery = forge("to_json_forgery");
    assert_eq!(forgery.code, 1, "{}", forgery.stderr);
    assert!(
        !forgery.result.to_string().contains("forged"),
        "{}",
        forgery.result
    );
}
