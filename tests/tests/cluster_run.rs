//! `jobwrap run|exec --backend kubernetes` against the real CI cluster (`scripts/cluster
//! up`): results, the contract's exit codes, the "restricted" Pod Security profile
//! enforced on the namespace, and nothing of a run left in the cluster afterwards.

use jobwrap_integration_tests::{
    CLUSTER_KUBECONFIG, CLUSTER_REGISTRY, cluster_leftovers, fixture, jobwrap_binary, kubectl,
    require_cluster, require_offline_builder, samples,
};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const NAMESPACE: &str = "jobwrap-tests";
/// Our pause image: in the node's containerd already, never exits by itself.
const PAUSE_IMAGE: &str = "jobwrap.local/pause:1";

/// One run at a time: builds share the two cores, and leftovers are checked per run.
static SERIAL: Mutex<()> = Mutex::new(());

struct Run {
    code: i32,
    result: Value,
    stderr: String,
}

fn jobwrap(verb: &str, target: &str, args: &[&str], inputs: &[(&str, Value)]) -> Run {
    require_offline_builder();
    require_cluster(NAMESPACE);
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let files = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(jobwrap_binary());
    command
        .env("KUBECONFIG", CLUSTER_KUBECONFIG)
        .args([
            verb,
            target,
            "--backend",
            "kubernetes",
            "--namespace",
            NAMESPACE,
        ])
        .args(args);
    if verb == "run" {
        command.args(["--registry", CLUSTER_REGISTRY]);
    }
    for (name, value) in inputs {
        let path = files.path().join(format!("{name}.json"));
        fs_err::write(&path, value.to_string()).expect("input");
        command.arg(format!("--{name}")).arg(path);
    }
    let output = command.output().expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        cluster_leftovers(NAMESPACE),
        Vec::<String>::new(),
        "the run left objects in the cluster\n{stderr}"
    );
    Run {
        code: output.status.code().expect("an exit code"),
        result: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        stderr,
    }
}

fn run(project: &Path, args: &[&str], inputs: &[(&str, Value)]) -> Run {
    jobwrap("run", &project.to_string_lossy(), args, inputs)
}

#[test]
fn the_planqk_template_sample_returns_its_statistics() {
    let sample = samples::planqk_template();
    let run = run(&fixture(sample.fixture), &[], &sample.inputs());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.result, sample.result);
    assert!(
        run.stderr.contains("processed 5 values"),
        "the pod's log is streamed to stderr:\n{}",
        run.stderr
    );
}

#[test]
fn the_kwargs_sample_runs_behind_a_default_deny_network_policy() {
    let sample = samples::kwargs_style();
    let run = run(
        &fixture(sample.fixture),
        &["--json", "--network-policy"],
        &sample.inputs(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.result["result"], sample.result);
    assert_eq!(run.result["status"]["status"], json!("SUCCEEDED"));
    assert_eq!(run.result["status"]["backend"], json!("kubernetes"));
}

#[test]
fn the_numpy_sample_returns_numbers_computed_with_its_dependency() {
    let sample = samples::numpy_result();
    let run = run(&fixture(sample.fixture), &[], &sample.inputs());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.result, sample.result);
}

#[test]
fn a_failing_project_exits_1_with_its_error() {
    let sample = samples::failing();
    let run = run(&fixture(sample.fixture), &[], &sample.inputs());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.result, sample.result);
}

#[test]
fn a_job_over_its_timeout_exits_124() {
    let run = run(
        &fixture("contract-actions"),
        &["--timeout", "2"],
        &[("params", json!({"do": "sleep", "seconds": 60}))],
    );
    assert_eq!(run.code, 124, "{}", run.stderr);
    assert_eq!(run.result["code"], json!("timeout"));
}

#[test]
fn a_job_over_its_memory_limit_exits_137() {
    let run = run(
        &fixture("contract-actions"),
        &["--memory", "128m"],
        &[("params", json!({"do": "allocate", "megabytes": 1024}))],
    );
    assert_eq!(run.code, 137, "{}", run.stderr);
    assert_eq!(run.result["code"], json!("killed"));
}

#[test]
fn a_pod_that_outlives_the_jobs_deadline_is_stopped_by_the_cluster_with_124() {
    // The pause image has no runner to stop it at its timeout: the Job's
    // activeDeadlineSeconds does, and the log (empty here) is not trusted.
    let started = Instant::now();
    let run = jobwrap("exec", PAUSE_IMAGE, &["--timeout", "1"], &[]);
    assert_eq!(run.code, 124, "{}", run.stderr);
    assert_eq!(run.result, Value::Null);
    assert!(started.elapsed() < Duration::from_mins(3), "{}", run.stderr);
}

#[test]
fn an_image_the_cluster_cannot_pull_fails_fast_and_names_the_reason() {
    let run = jobwrap(
        "exec",
        "127.0.0.1:5000/jobwrap-job/does-not-exist",
        &[],
        &[],
    );
    assert_eq!(run.code, 125, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot start") && run.stderr.contains("ImagePull"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_namespace_that_admits_no_pod_fails_the_run_with_the_clusters_reason() {
    const FULL: &str = "jobwrap-tests-no-pods";
    require_cluster(FULL);
    let quota = format!(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: no-pods\n  namespace: {FULL}\nspec:\n  hard:\n    pods: \"0\"\n"
    );
    let (applied, _, stderr) = kubectl(&["apply", "-f", "-"], Some(&quota));
    assert!(applied, "{stderr}");
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let output = Command::new(jobwrap_binary())
        .env("KUBECONFIG", CLUSTER_KUBECONFIG)
        .args([
            "exec",
            PAUSE_IMAGE,
            "--backend",
            "kubernetes",
            "--namespace",
            FULL,
        ])
        .output()
        .expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("created no pod") && stderr.contains("exceeded quota"),
        "{stderr}"
    );
    assert_eq!(cluster_leftovers(FULL), Vec::<String>::new(), "{stderr}");
}

#[test]
fn inputs_larger_than_a_secret_are_refused_before_anything_is_built_or_created() {
    let big = json!({"blob": "x".repeat(2 * 1024 * 1024)});
    let run = run(&fixture("kwargs-style"), &[], &[("data", big)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("1 MiB"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("jobwrap: building") && !run.stderr.contains("jobwrap: pushing"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_push_the_registry_refuses_leaves_no_local_tag() {
    require_offline_builder();
    require_cluster(NAMESPACE);
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // A closed port on loopback: the push fails at once.
    let registry = "127.0.0.1:9";
    let output = Command::new(jobwrap_binary())
        .env("KUBECONFIG", CLUSTER_KUBECONFIG)
        .arg("run")
        .arg(fixture("kwargs-style"))
        .args(["--backend", "kubernetes", "--namespace", NAMESPACE])
        .args(["--registry", registry])
        .output()
        .expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("failed: "), "{stderr}");
    let images = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .expect("docker runs");
    let listed = String::from_utf8_lossy(&images.stdout);
    assert!(
        !listed
            .lines()
            .any(|image| image.starts_with(&format!("{registry}/"))),
        "the registry's tag was left behind:\n{listed}"
    );
}

#[test]
fn a_cluster_that_cannot_be_reached_fails_the_run_before_any_build() {
    // A kubeconfig whose API server is a closed port on loopback.
    let config = tempfile::tempdir().expect("temp dir");
    let kubeconfig = config.path().join("kubeconfig");
    fs_err::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:9\n\
         contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: nobody\n\
         current-context: gone\nusers:\n- name: nobody\n  user: {}\n",
    )
    .expect("kubeconfig");
    let output = Command::new(jobwrap_binary())
        .env("KUBECONFIG", &kubeconfig)
        .arg("run")
        .arg(fixture("kwargs-style"))
        .args(["--backend", "kubernetes", "--registry", CLUSTER_REGISTRY])
        .output()
        .expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("reach its API server"), "{stderr}");
    assert!(!stderr.contains("jobwrap: building"), "{stderr}");
}

#[test]
fn ctrl_c_while_the_job_runs_deletes_its_job_pod_and_secret() {
    require_cluster(NAMESPACE);
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let child = Command::new(jobwrap_binary())
        .env("KUBECONFIG", CLUSTER_KUBECONFIG)
        .args([
            "exec",
            PAUSE_IMAGE,
            "--backend",
            "kubernetes",
            "--namespace",
            NAMESPACE,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jobwrap starts");
    // Wait until the job's pod runs.
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let (_, pods, _) = kubectl(
            &[
                "get",
                "pods",
                "-n",
                NAMESPACE,
                "-l",
                "app.kubernetes.io/managed-by=jobwrap",
                "-o",
                "jsonpath={.items[*].status.phase}",
            ],
            None,
        );
        if pods.contains("Running") {
            break;
        }
        assert!(Instant::now() < deadline, "the job's pod never ran");
        std::thread::sleep(Duration::from_millis(300));
    }
    let pid = i32::try_from(child.id()).expect("pid");
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let output = child.wait_with_output().expect("jobwrap ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert_eq!(
        cluster_leftovers(NAMESPACE),
        Vec::<String>::new(),
        "{stderr}"
    );
}
