//! Shared helpers for the integration suites: the real builder, the real `pack`, the
//! real Docker engine. Nothing here fakes a result: when the toolchain is missing, the
//! helpers fail the test with the command that brings it up.

pub mod samples;

use libcnb_test::{BuildConfig, BuildpackReference};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The builder made on this machine by `scripts/setup`.
pub const OFFLINE_BUILDER: &str = "jobwrap/builder-offline";
/// The only Rust target this machine has (libcnb-test defaults to musl).
pub const TARGET_TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// `tests/fixtures/<name>`.
#[must_use]
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Fails the test unless the offline builder exists.
///
/// # Panics
/// When Docker is not reachable or the builder has not been created.
pub fn require_offline_builder() {
    let found = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", OFFLINE_BUILDER])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found,
        "the builder {OFFLINE_BUILDER} does not exist (or Docker is not running); run scripts/setup"
    );
}

/// A libcnb-test build of `fixture` on the offline builder with this workspace's own
/// buildpacks, freshly packaged, in the builder's order.
///
/// # Panics
/// When the builder does not exist.
#[must_use]
pub fn offline_build(fixture_name: &str) -> BuildConfig {
    require_offline_builder();
    let mut config = BuildConfig::new(OFFLINE_BUILDER, fixture(fixture_name));
    config.target_triple(TARGET_TRIPLE).buildpacks([
        BuildpackReference::WorkspaceBuildpack("jobwrap/python".parse().expect("valid id")),
        BuildpackReference::WorkspaceBuildpack("jobwrap/job-template".parse().expect("valid id")),
    ]);
    config
}

/// The image pack built, from its output (libcnb-test keeps the name private).
///
/// # Panics
/// When pack's output names no image.
#[must_use]
pub fn built_image(pack_stdout: &str) -> String {
    pack_stdout
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Successfully built image '")
                .and_then(|rest| rest.strip_suffix('\''))
        })
        .unwrap_or_else(|| panic!("pack built no image:\n{pack_stdout}"))
        .to_owned()
}

/// What a job container did.
#[derive(Debug)]
pub struct JobRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub output: Option<Value>,
    pub status: Option<Value>,
}

impl JobRun {
    /// The JSON after the final `Job:…Response:` marker.
    ///
    /// # Panics
    /// When the last line of stdout carries no marker and JSON.
    #[must_use]
    pub fn final_json(&self) -> Value {
        let line = self.stdout.lines().last().unwrap_or_default();
        let json = line
            .strip_prefix("Job:ResultResponse: ")
            .or_else(|| line.strip_prefix("Job:ErrorResponse: "))
            .unwrap_or_else(|| {
                panic!(
                    "no result marker in the last line {line:?}\nstderr:\n{}",
                    self.stderr
                )
            });
        serde_json::from_str(json).expect("the final line holds JSON")
    }
}

/// Runs a job image the way jobwrap does: no network, read-only root, no capabilities,
/// inputs mounted read-only at the contract's paths, a fresh output folder.
///
/// # Panics
/// When Docker cannot be run.
#[must_use]
pub fn run_job(
    image: &str,
    data: Option<&Value>,
    params: Option<&Value>,
    extra: &[&str],
) -> JobRun {
    let input = tempfile::tempdir().expect("input dir");
    let output = tempfile::tempdir().expect("output dir");
    // The image's user is not root: it must read the inputs and write the output folder.
    for (name, value) in [("data", data), ("params", params)] {
        if let Some(value) = value {
            let dir = input.path().join(name);
            fs_err::create_dir_all(&dir).expect("input subdir");
            fs_err::write(dir.join(format!("{name}.json")), value.to_string()).expect("input file");
            fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    fs_err::set_permissions(input.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    fs_err::set_permissions(output.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");

    let mut command = Command::new("docker");
    command
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--cap-drop",
            "ALL",
        ])
        .args(["--security-opt", "no-new-privileges", "--pids-limit", "256"])
        .args(["--tmpfs", "/tmp:rw,noexec,nosuid,size=64m"])
        .arg("--volume")
        .arg(format!("{}:/var/input:ro", input.path().display()))
        .arg("--volume")
        .arg(format!("{}:/var/runtime/output", output.path().display()))
        .args(extra)
        .arg(image);
    let finished = command.output().expect("docker runs");
    let read = |name: &str| {
        fs_err::read(output.path().join(name))
            .ok()
            .map(|bytes| serde_json::from_slice(&bytes).expect("the output files hold JSON"))
    };
    JobRun {
        code: finished.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
        output: read("output.json"),
        status: read("status.json"),
    }
}

/// Copies a fixture into a fresh folder, to change it for one test.
///
/// # Panics
/// When the copy fails.
#[must_use]
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let target = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixture(name), target.path());
    target
}

fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).expect("create");
    for entry in fs_err::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs the real `pack build` on the offline builder the way the host CLI does for
/// untrusted user projects: no `--trust-builder`, the local lifecycle image, pull policy
/// `never`, and the given build network. Each call gets a fresh build cache (removed
/// afterwards), so it shows what a first build does. Returns pack's combined output.
///
/// # Panics
/// When pack cannot be started.
#[must_use]
pub fn pack_build_untrusted(app: &Path, image: &str, network: &str) -> (bool, String) {
    require_offline_builder();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let cache = format!("jobwrap-test-cache-{}-{nanos}", std::process::id());
    let output = Command::new("pack")
        .args([
            "build",
            image,
            "--builder",
            OFFLINE_BUILDER,
            "--pull-policy",
            "never",
        ])
        .arg("--cache")
        .arg(format!("type=build;format=volume;name={cache}"))
        .args(["--network", network, "--path"])
        .arg(app)
        .output()
        .expect("pack runs (run scripts/setup)");
    let _ = Command::new("docker")
        .args(["volume", "rm", "--force", &cache])
        .output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Removes an image (and its dangling layers), ignoring a missing one.
pub fn remove_image(image: &str) {
    let _ = Command::new("docker")
        .args(["image", "rm", "--force", image])
        .output();
}

/// The `jobwrap` CLI of this workspace, built once per test binary.
///
/// # Panics
/// When it cannot be built.
#[must_use]
pub fn jobwrap_binary() -> &'static Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "--quiet", "--package", "jobwrap"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(built.success(), "cargo build --package jobwrap failed");
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/jobwrap")
    })
}

/// What jobwrap left on this machine: its labelled job containers, the containers and
/// names of its builds (pack's phase containers run the build's builder alias), its
/// staging and run folders. Compared before and after a run.
#[derive(Debug, PartialEq, Eq)]
pub struct Leftovers {
    pub job_containers: Vec<String>,
    /// pack's per-build volumes (`pack-layers-*`, `pack-app-*`).
    pub pack_volumes: Vec<String>,
    pub build_containers: Vec<String>,
    pub builder_aliases: Vec<String>,
    pub temp_folders: Vec<String>,
}

/// # Panics
/// When Docker cannot be asked.
#[must_use]
pub fn leftovers() -> Leftovers {
    let list = |args: &[&str]| {
        let output = Command::new("docker")
            .args(args)
            .output()
            .expect("docker runs");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut temp_folders: Vec<String> = fs_err::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with("jobwrap-stage-") || name.starts_with("jobwrap-run-"))
        .collect();
    temp_folders.sort();
    // Pack's phase containers run the build's builder alias, or show only the builder's
    // id once the alias is gone: their command is the lifecycle's either way.
    let build_containers = list(&[
        "ps",
        "--all",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Image}} {{.Command}}",
    ])
    .into_iter()
    .filter(|line| line.contains(" jobwrap-builder-run:") || line.contains("/cnb/lifecycle/"))
    .collect();
    Leftovers {
        job_containers: list(&["ps", "--all", "--quiet", "--filter", "label=io.jobwrap.run"]),
        build_containers,
        builder_aliases: list(&["images", "--quiet", "jobwrap-builder-run"]),
        pack_volumes: list(&["volume", "ls", "--quiet", "--filter", "name=pack-"]),
        temp_folders,
    }
}

/// The stdout of `script` run by `sh` in `image`, with the image's launch environment
/// (the CNB launcher sets it up), without network.
///
/// # Panics
/// When Docker cannot be run.
#[must_use]
pub fn in_image(image: &str, script: &str) -> String {
    let output = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "launcher",
            image,
        ])
        .args(["sh", "-c", script])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// True when Docker has this image.
#[must_use]
pub fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The image a `jobwrap run` built, from its log.
#[must_use]
pub fn image_in_log(stderr: &str) -> Option<String> {
    stderr
        .split_whitespace()
        .find(|word| word.starts_with("jobwrap-job/") || word.starts_with("jobwrap-run/"))
        .map(|word| {
            word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/' && c != '-')
                .to_owned()
        })
}

/// The admin kubeconfig of the CI cluster that `scripts/cluster up` starts.
pub const CLUSTER_KUBECONFIG: &str = "/var/lib/jobwrap-cluster/admin.kubeconfig";
/// The CI cluster's registry.
pub const CLUSTER_REGISTRY: &str = "127.0.0.1:5000";

/// `kubectl` against the CI cluster: (succeeded, stdout, stderr).
///
/// # Panics
/// When kubectl cannot be run.
#[must_use]
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", CLUSTER_KUBECONFIG)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs (scripts/setup installs it)");
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes())
            .expect("kubectl's stdin");
    }
    let output = child.wait_with_output().expect("kubectl finishes");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The namespaces this test process has made: tests run in parallel threads, and two
/// `kubectl apply`s of one new namespace race (the loser gets `AlreadyExists`).
static NAMESPACES_MADE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Fails the test unless the CI cluster answers, and makes `namespace` with the
/// "restricted" Pod Security profile enforced, so every job pod must meet it.
///
/// # Panics
/// When the cluster is down.
pub fn require_cluster(namespace: &str) {
    let (ready, _, stderr) = kubectl(&["get", "--raw", "/readyz"], None);
    assert!(
        ready,
        "the CI cluster is not up ({stderr}); run scripts/setup and scripts/cluster up"
    );
    let mut made = NAMESPACES_MADE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if made.contains(namespace) {
        return;
    }
    let manifest = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n  labels:\n    \
         pod-security.kubernetes.io/enforce: restricted\n    \
         pod-security.kubernetes.io/warn: restricted\n"
    );
    let (applied, _, stderr) = kubectl(&["apply", "-f", "-"], Some(&manifest));
    assert!(applied, "cannot create the namespace {namespace}: {stderr}");
    made.insert(namespace.to_owned());
}

/// Every object jobwrap made in `namespace` that still exists (Jobs, pods, Secrets,
/// network policies), by name.
///
/// # Panics
/// When the cluster cannot be asked.
#[must_use]
pub fn cluster_leftovers(namespace: &str) -> Vec<String> {
    let (listed, stdout, stderr) = kubectl(
        &[
            "get",
            "jobs,pods,secrets,networkpolicies",
            "--namespace",
            namespace,
            "--selector",
            "app.kubernetes.io/managed-by=jobwrap",
            "--output",
            "name",
        ],
        None,
    );
    assert!(listed, "cannot list the namespace {namespace}: {stderr}");
    stdout.lines().map(str::to_owned).collect()
}

/// Pushes the local `image` to the CI cluster's registry as `name` and returns it by
/// digest: the node caches images by name, so a tag pushed again would not be pulled.
///
/// # Panics
/// When Docker cannot tag or push.
#[must_use]
pub fn push_to_cluster(image: &str, name: &str) -> String {
    let remote = format!("{CLUSTER_REGISTRY}/{name}");
    for args in [
        vec!["tag", image, remote.as_str()],
        vec!["push", remote.as_str()],
    ] {
        let output = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker runs");
        assert!(
            output.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let digests = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{range .RepoDigests}}{{println .}}{{end}}",
            &remote,
        ])
        .output()
        .expect("docker runs");
    let listed = String::from_utf8_lossy(&digests.stdout).into_owned();
    // Digests name the repository, without the tag.
    let repository = match remote.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => repository,
        _ => remote.as_str(),
    };
    listed
        .lines()
        .find(|digest| digest.starts_with(&format!("{repository}@")))
        .unwrap_or_else(|| panic!("{remote} has no digest after the push: {listed}"))
        .to_owned()
}
