//! Ctrl-C (SIGINT) to `jobwrap run` mid-build and mid-run: it stops, exits 130, and
//! leaves no container, image or staging folder behind.

use jobwrap_integration_tests::{
    copy_fixture, image_exists, image_in_log, jobwrap_binary, leftovers, require_offline_builder,
};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// Starts `jobwrap run` on `project`, sends SIGINT once its log shows `marker`, and
/// returns its exit code and log.
fn interrupt_when(project: &std::path::Path, args: &[&str], marker: &str) -> (i32, String) {
    let mut child = Command::new(jobwrap_binary())
        .arg("run")
        .arg(project)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jobwrap runs");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    let marker = marker.to_owned();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&marker) {
                let _ = sender.send(());
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let seen = receiver.recv_timeout(Duration::from_mins(2)).is_ok();
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let give_up = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < give_up,
            "jobwrap did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = reader.join().expect("reader");
    assert!(seen, "the marker never appeared:\n{log}");
    (status.code().unwrap_or(-1), log)
}

fn unique_project() -> tempfile::TempDir {
    // Fresh content: a build must really happen.
    let project = copy_fixture("contract-actions");
    let nonce = format!("{:?}", Instant::now());
    fs_err::write(project.path().join("nonce.txt"), nonce).expect("nonce");
    project
}

/// SIGINT once the log shows `marker`: exit 130, and nothing of the run remains.
fn assert_sigint_removes_everything(args: &[&str], marker: &str) {
    require_offline_builder();
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = leftovers();
    let project = unique_project();
    let (code, log) = interrupt_when(project.path(), args, marker);
    assert_eq!(code, 130, "{log}");
    assert_eq!(leftovers(), before, "{log}");
    let image = image_in_log(&log).expect("the log names the image");
    assert!(!image_exists(&image), "{image} remains");
}

#[test]
fn sigint_during_the_build_removes_everything() {
    assert_sigint_removes_everything(&[], "===> BUILDING");
}

#[test]
fn sigint_while_the_job_runs_removes_everything() {
    let params = tempfile::NamedTempFile::new().expect("params");
    fs_err::write(params.path(), r#"{"do": "sleep", "seconds": 120}"#).expect("write");
    let params_path = params.path().to_str().expect("utf-8 path");
    assert_sigint_removes_everything(
        &["--params", params_path],
        "jobwrap: running src.program:run",
    );
}
