//! `jobwrap clean` against the real Docker engine: it leaves a run under way and the
//! images `jobwrap build` made alone, and removes the build caches of projects that are
//! gone (all of them with `--caches`).

use jobwrap_integration_tests::{
    copy_fixture, image_exists, jobwrap_binary, require_offline_builder,
};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn jobwrap(args: &[&str]) -> Output {
    Command::new(jobwrap_binary())
        .args(args)
        .output()
        .expect("jobwrap runs")
}

fn project(fixture: &str) -> tempfile::TempDir {
    // Fresh content: a build must really happen, into a cache of its own.
    let project = copy_fixture(fixture);
    let nonce = format!("{:?}", Instant::now());
    fs_err::write(project.path().join("nonce.txt"), nonce).expect("nonce");
    project
}

/// The cache volumes Docker holds for `project`.
fn caches_of(project: &Path) -> Vec<String> {
    let location = fs_err::canonicalize(project).unwrap_or_else(|_| project.to_owned());
    let filter = format!("label=io.jobwrap.cache.project={}", location.display());
    let listed = Command::new("docker")
        .args(["volume", "ls", "--quiet", "--filter", &filter])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn clean_spares_a_run_under_way_and_removes_the_caches_of_projects_that_are_gone() {
    require_offline_builder();
    let gone = project("kwargs-style");
    let path = gone.path().to_str().expect("utf-8 path").to_owned();
    let built = jobwrap(&["build", &path]);
    assert!(built.status.success(), "{built:?}");
    let kept_image = String::from_utf8_lossy(&built.stdout).trim().to_owned();
    assert_eq!(
        caches_of(gone.path()).len(),
        2,
        "pack's build and launch caches"
    );
    let gone_location = fs_err::canonicalize(gone.path()).expect("canonical");
    drop(gone);

    let busy = project("contract-actions");
    let params = busy.path().join("params.json");
    fs_err::write(&params, r#"{"do": "sleep", "seconds": 5}"#).expect("params");
    let mut run = Command::new(jobwrap_binary())
        .arg("run")
        .arg(busy.path())
        .arg("--params")
        .arg(&params)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jobwrap runs");
    let stderr = run.stderr.take().expect("stderr");
    let (started, job_runs) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("jobwrap: running src.program:run") {
                let _ = started.send(());
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let running = job_runs.recv_timeout(Duration::from_mins(3)).is_ok();

    // The run's container, image, staging and run folders are in use now.
    let cleaned = jobwrap(&["clean"]);
    assert!(cleaned.status.success(), "{cleaned:?}");
    let output = run.wait_with_output().expect("the run ends");
    let log = log.join().expect("log");
    assert!(running, "{log}");
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(r#""slept":true"#),
        "{log}"
    );

    let kept = image_exists(&kept_image);
    let _ = Command::new("docker")
        .args(["image", "rm", &kept_image])
        .output();
    assert!(
        kept,
        "clean removed {kept_image}, which `jobwrap build` made"
    );
    assert_eq!(caches_of(&gone_location), Vec::<String>::new());
    assert_eq!(
        caches_of(busy.path()).len(),
        2,
        "a project still there keeps its cache"
    );
    let everything = jobwrap(&["clean", "--caches"]);
    assert!(everything.status.success(), "{everything:?}");
    assert_eq!(caches_of(busy.path()), Vec::<String>::new());
}
