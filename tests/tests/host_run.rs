//! `jobwrap run` end to end against the real Docker engine and the offline builder:
//! results, exit codes, and nothing left behind after each run.

use jobwrap_integration_tests::{
    copy_fixture, fixture, image_exists, image_in_log, jobwrap_binary, leftovers,
    require_offline_builder, samples,
};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// Runs one at a time: the leftover checks look at the whole machine.
static SERIAL: Mutex<()> = Mutex::new(());

struct Run {
    code: i32,
    result: Value,
    stderr: String,
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn jobwrap_run(project: &Path, args: &[&str], inputs: &[(&str, Value)]) -> Run {
    require_offline_builder();
    let _serial = serial();
    let before = leftovers();
    let files = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(jobwrap_binary());
    command.arg("run").arg(project).args(args);
    for (name, value) in inputs {
        let path = files.path().join(format!("{name}.json"));
        fs_err::write(&path, value.to_string()).expect("input");
        command.arg(format!("--{name}")).arg(path);
    }
    let output = command.output().expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        leftovers(),
        before,
        "the run left something behind\n{stderr}"
    );
    // An image the run built goes with it; one made before (`jobwrap build`) stays.
    if let Some(image) = image_in_log(&stderr)
        && !stderr.contains("is up to date")
    {
        assert!(!image_exists(&image), "{image} was not removed");
    }
    Run {
        code: output.status.code().expect("an exit code"),
        result: serde_json::from_str(stdout.trim())
            .unwrap_or_else(|_| panic!("stdout is JSON: {stdout}\n{stderr}")),
        stderr,
    }
}

/// A run refused before any build: its exit code and stderr.
fn refused_run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let output = Command::new(jobwrap_binary())
        .arg("run")
        .args(args)
        .output()
        .expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("jobwrap: building"), "{stderr}");
    (output.status.code(), stderr)
}

#[test]
fn the_planqk_template_sample_returns_its_statistics() {
    let sample = samples::planqk_template();
    let run = jobwrap_run(&fixture(sample.fixture), &[], &sample.inputs());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.result, sample.result);
    assert!(
        run.stderr.contains("processed 5 values"),
        "the job's output is streamed to stderr"
    );
}

#[test]
fn the_kwargs_sample_echoes_and_json_mode_gives_the_status() {
    let sample = samples::kwargs_style();
    let run = jobwrap_run(&fixture(sample.fixture), &["--json"], &sample.inputs());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.result["result"], sample.result);
    assert_eq!(run.result["status"]["status"], json!("SUCCEEDED"));
}

#[test]
fn a_failing_project_exits_1_with_its_error() {
    let sample = samples::failing();
    let run = jobwrap_run(&fixture(sample.fixture), &[], &sample.inputs());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.result, sample.result);
}

#[test]
fn a_job_over_its_timeout_exits_124() {
    let run = jobwrap_run(
        &fixture("contract-actions"),
        &["--timeout", "2"],
        &[("params", json!({"do": "sleep", "seconds": 60}))],
    );
    assert_eq!(run.code, 124, "{}", run.stderr);
    assert_eq!(run.result["code"], json!("timeout"));
}

#[test]
fn a_job_over_its_memory_limit_exits_137() {
    let run = jobwrap_run(
        &fixture("contract-actions"),
        &["--memory", "128m"],
        &[("params", json!({"do": "allocate", "megabytes": 1024}))],
    );
    assert_eq!(run.code, 137, "{}", run.stderr);
    assert_eq!(run.result["code"], json!("killed"));
}

#[test]
fn a_zip_upload_runs_like_its_folder() {
    let sample = copy_fixture("kwargs-style");
    let archive = tempfile::Builder::new()
        .suffix(".zip")
        .tempfile()
        .expect("zip file");
    let zipped = Command::new("python3")
        .args([
            "-c",
            "import shutil, sys; shutil.make_archive(sys.argv[1][:-4], 'zip', sys.argv[2])",
        ])
        .arg(archive.path())
        .arg(sample.path())
        .status()
        .expect("python3 zips");
    assert!(zipped.success());
    let run = jobwrap_run(archive.path(), &[], &[("data", json!({"word": "zip"}))]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.result["echo"], json!("zip"));
}

#[test]
fn concurrent_runs_of_one_project_all_succeed_and_leave_nothing() {
    // They share the project's build cache, which pack cannot use twice at once, and
    // may share an image: each must keep what the others still need.
    require_offline_builder();
    let _serial = serial();
    let before = leftovers();
    let project = copy_fixture("kwargs-style");
    let sample = samples::kwargs_style();
    let files = tempfile::tempdir().expect("temp dir");
    let mut flags = Vec::new();
    for (name, value) in sample.inputs() {
        let path = files.path().join(format!("{name}.json"));
        fs_err::write(&path, value.to_string()).expect("input");
        flags.push(format!("--{name}"));
        flags.push(path.to_string_lossy().into_owned());
    }
    let runs: Vec<_> = (0..3)
        .map(|_| {
            Command::new(jobwrap_binary())
                .arg("run")
                .arg(project.path())
                .args(&flags)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("jobwrap runs")
        })
        .collect();
    for run in runs {
        let output = run.wait_with_output().expect("jobwrap finishes");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let result: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
        assert_eq!(result, sample.result, "{stderr}");
        let image = image_in_log(&stderr).expect("the log names the image");
        assert!(!image_exists(&image), "{image} was not removed\n{stderr}");
    }
    assert_eq!(leftovers(), before, "the runs left something behind");
}

#[test]
fn a_folder_that_is_no_job_project_is_refused_before_any_build() {
    // (Its staging folder would show in another run's leftovers.)
    let _serial = serial();
    let (code, stderr) = refused_run(&[fixture("not-a-job").as_os_str()]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "is not a job project: looked for any of planqk.json, jobwrap.toml, src/program.py"
        ),
        "{stderr}"
    );
}

#[test]
fn an_input_that_is_no_regular_file_is_refused_before_any_build() {
    let _serial = serial();
    let project = fixture("kwargs-style");
    for (input, why) in [
        ("/dev/zero", "not a regular file"),
        ("/nonexistent/data.json", "No such file"),
    ] {
        let flags = ["--data".as_ref(), input.as_ref(), project.as_os_str()];
        for local in [false, true] {
            let args = if local {
                [&["--local".as_ref()], &flags[..]].concat()
            } else {
                flags.to_vec()
            };
            let (code, stderr) = refused_run(&args);
            assert_eq!(code, Some(2), "{stderr}");
            assert!(
                stderr.contains(&format!("the input {input} cannot be used"))
                    && stderr.contains(why),
                "{stderr}"
            );
        }
    }
}

#[test]
fn invalid_settings_are_refused_before_any_build_naming_the_file_and_key() {
    let _serial = serial();
    let (code, stderr) = refused_run(&[fixture("bad-settings").as_os_str()]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "planqk.json: `resources.memory` has the wrong type, expected a positive number"
        ),
        "{stderr}"
    );
    // The file is named as the user knows it, not by the private staging folder.
    assert!(!stderr.contains("jobwrap-stage"), "{stderr}");
}

#[test]
fn a_requirements_file_that_reads_the_hosts_files_is_refused_without_showing_them() {
    let _serial = serial();
    let run_output = Command::new(jobwrap_binary())
        .arg("run")
        .arg(fixture("hostile-requirements"))
        .output()
        .expect("jobwrap runs");
    let stderr = String::from_utf8_lossy(&run_output.stderr);
    assert_eq!(run_output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("requirements.txt line 3: `-r /etc/passwd` is refused"),
        "{stderr}"
    );
    let host_file = fs_err::read_to_string("/etc/passwd").expect("/etc/passwd");
    let first_entry = host_file.lines().next().expect("an entry");
    assert!(!stderr.contains(first_entry), "{stderr}");
}

#[test]
fn a_run_reuses_an_image_made_by_build_and_leaves_it_in_place() {
    require_offline_builder();
    let project = copy_fixture("kwargs-style");
    fs_err::write(
        project.path().join("nonce.txt"),
        format!("{:?}", std::time::Instant::now()),
    )
    .expect("nonce");
    let serial = serial();
    let built = Command::new(jobwrap_binary())
        .arg("build")
        .arg(project.path())
        .output()
        .expect("jobwrap runs");
    drop(serial);
    assert!(built.status.success(), "{built:?}");
    let image = String::from_utf8_lossy(&built.stdout).trim().to_owned();
    let sample = samples::kwargs_style();
    let run = jobwrap_run(project.path(), &[], &sample.inputs());
    let still_there = image_exists(&image);
    let _ = Command::new("docker")
        .args(["image", "rm", &image])
        .output();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.result, sample.result);
    assert!(run.stderr.contains("is up to date"), "{}", run.stderr);
    assert!(
        still_there,
        "the run removed {image}, which `jobwrap build` made"
    );
}
