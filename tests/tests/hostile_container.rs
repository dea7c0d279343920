//! The hostile-code suite in the container path: each hostile project is built as an
//! untrusted project on `jobwrap/builder-offline` and run the way jobwrap runs jobs (no
//! network, read-only root, no capabilities, pids limit, small `/tmp`). Each test proves
//! containment, a clear status and exit code, and that no container or job process is
//! left afterwards.
//!
//! One image per hostile project holds several behaviours, picked by `params["do"]`.
//! Cases that get through today's container settings and that only the runner's own
//! sandbox will stop are marked ignored with the layer they need.

use jobwrap_integration_tests::{
    JobRun, copy_fixture, pack_build_untrusted, remove_image, run_job,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The image of each hostile project, built once per test binary (builds run one at a
/// time: the machine has two cores).
fn image(fixture: &str) -> String {
    static BUILT: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let images = built.get_or_insert_with(HashMap::new);
    if let Some(image) = images.get(fixture) {
        return image.clone();
    }
    let image = format!("jobwrap-test/{fixture}");
    let app = copy_fixture(fixture);
    let (ok, log) = pack_build_untrusted(app.path(), &image, "none");
    assert!(ok, "building {fixture} failed:\n{log}");
    images.insert(fixture.to_owned(), image.clone());
    image
}

struct Hostile {
    run: JobRun,
    elapsed: Duration,
}

/// One run at a time: the process checks look at the whole machine, and the bombs
/// would starve each other's timings.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs one behaviour and checks nothing of it is left: no container of the image, no
/// process of the job on the machine.
fn hostile(fixture: &str, params: &Value, extra: &[&str]) -> Hostile {
    let image = image(fixture);
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let started = Instant::now();
    let run = run_job(&image, None, Some(params), extra);
    let elapsed = started.elapsed();
    let containers = Command::new("docker")
        .args(["ps", "--all", "--quiet", "--filter"])
        .arg(format!("ancestor={image}"))
        .output()
        .expect("docker runs");
    let containers = String::from_utf8_lossy(&containers.stdout).into_owned();
    assert!(
        containers.trim().is_empty(),
        "containers left: {containers}"
    );
    for daemon in ["hostile-setsid-daemon", "hostile-import-daemon"] {
        assert_no_process_named(daemon);
    }
    Hostile { run, elapsed }
}

impl Hostile {
    /// Exit code, `status.json`, `output.json` and the final line agree.
    fn assert_consistent(&self, code: i32) -> Value {
        let run = &self.run;
        assert_eq!(
            run.code,
            code,
            "exit code\nstderr:\n{}\nstdout (tail):\n{}",
            run.stderr,
            tail(&run.stdout)
        );
        let status = run.status.as_ref().expect("status.json was written");
        assert_eq!(status["exit_code"], code);
        assert_eq!(
            status["status"],
            if code == 0 { "SUCCEEDED" } else { "FAILED" }
        );
        let last = run.stdout.lines().last().unwrap_or_default();
        let expected = if code == 0 {
            "Job:ResultResponse: "
        } else {
            "Job:ErrorResponse: "
        };
        assert!(last.starts_with(expected), "final line {last:?}");
        let result = run.final_json();
        assert_eq!(
            run.output.as_ref(),
            Some(&result),
            "output.json equals the final line"
        );
        result
    }

    fn status(&self) -> &Value {
        self.run.status.as_ref().expect("status.json was written")
    }

    fn error_kind(&self) -> &str {
        self.status()["error"]["kind"].as_str().unwrap_or_default()
    }

    fn limits(&self) -> Vec<&str> {
        self.status()["limits_hit"]
            .as_array()
            .map(|limits| limits.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The honest answer everywhere; "forged" nowhere it could be trusted.
    fn assert_honest(&self) {
        let result = self.assert_consistent(0);
        assert_eq!(result["honest"], true, "{result}");
        let last = self.run.stdout.lines().last().unwrap_or_default();
        assert!(!last.contains("forged"), "{last}");
        for file in [&self.run.output, &self.run.status] {
            let text = file.as_ref().map(Value::to_string).unwrap_or_default();
            assert!(!text.contains("forged"), "{text}");
        }
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(2000);
    let start = (start..text.len())
        .find(|index| text.is_char_boundary(*index))
        .unwrap_or(text.len());
    &text[start..]
}

/// Container processes show in the machine's `/proc`: none may carry this word.
fn assert_no_process_named(word: &str) {
    let mut left = Vec::new();
    for entry in fs_err::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(word) {
            left.push(pid);
        }
    }
    assert!(left.is_empty(), "{word} left running: {left:?}");
}

const TIMEOUT: [&str; 4] = ["-e", "JOBWRAP_TIMEOUT=3", "-e", "JOBWRAP_KILL_GRACE=1"];

// Network: a listener on the machine's loopback must see nothing.

#[test]
fn tcp_to_a_loopback_listener_never_arrives() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let job = hostile(
        "hostile-escape",
        &json!({"do": "tcp_connect", "port": port}),
        &[],
    );
    let result = job.assert_consistent(0);
    assert_eq!(result["connected"], false, "{result}");
    let accepted = listener.accept().map(|_| ()).map_err(|error| error.kind());
    assert_eq!(
        accepted,
        Err(ErrorKind::WouldBlock),
        "the listener saw a connection"
    );
}

#[test]
fn udp_to_a_loopback_listener_never_arrives() {
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    receiver.set_nonblocking(true).expect("nonblocking");
    let port = receiver.local_addr().expect("address").port();
    let job = hostile(
        "hostile-escape",
        &json!({"do": "udp_send", "port": port}),
        &[],
    );
    job.assert_consistent(0);
    let mut buffer = [0_u8; 64];
    let arrived = receiver.recv(&mut buffer).map_err(|error| error.kind());
    assert_eq!(arrived, Err(ErrorKind::WouldBlock), "a datagram arrived");
}

#[test]
fn a_port_the_job_listens_on_is_not_reachable_from_the_machine() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|free| free.local_addr())
        .expect("a free port")
        .port();
    let prober = std::thread::spawn(move || {
        (0..40).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
    });
    let job = hostile(
        "hostile-escape",
        &json!({"do": "listen", "port": port, "seconds": 5}),
        &[],
    );
    let reached = prober.join().expect("prober");
    let result = job.assert_consistent(0);
    assert!(!reached, "the machine reached the job's port");
    // The runner's seccomp filter refuses the socket before the container's network
    // namespace would isolate it.
    assert_eq!(result, json!({"error": "EPERM", "listening": false}));
}

// The file system.

#[test]
fn the_project_and_the_root_file_system_are_not_writable() {
    let paths = json!([
        "/workspace/src/program.py",
        "/workspace/planted.txt",
        "/home/cnb/planted.txt",
        "/var/tmp/planted.txt",
        "/planted.txt",
        "/layers/planted.txt"
    ]);
    let job = hostile(
        "hostile-escape",
        &json!({"do": "write_paths", "paths": paths}),
        &[],
    );
    let result = job.assert_consistent(0);
    let report = result.as_object().expect("a report");
    assert_eq!(report.len(), 7, "{result}");
    for (path, outcome) in report {
        if path.ends_with("/allowed.txt") {
            // The control: the private temporary folder is writable.
            assert!(path.starts_with("/tmp/"), "{path}");
            assert_eq!(outcome, "written");
        } else {
            assert!(
                outcome == "EROFS" || outcome == "EACCES",
                "{path}: {outcome}"
            );
        }
    }
}

#[test]
fn the_output_folder_is_not_writable_but_shared_memory_is() {
    // /dev/shm stays writable (Python's multiprocessing needs it); it is the container's
    // own, 16 MiB, and gone with it.
    let paths = json!(["/dev/shm/planted.txt", "/var/runtime/output/planted.txt"]);
    let job = hostile(
        "hostile-escape",
        &json!({"do": "write_paths", "paths": paths}),
        &[],
    );
    let result = job.assert_consistent(0);
    assert_eq!(result["/dev/shm/planted.txt"], "written", "{result}");
    assert_eq!(
        result["/var/runtime/output/planted.txt"], "EACCES",
        "{result}"
    );
}

/// A copy of `hostile-symlinks` whose `links/` point at a canary file of this machine,
/// built as an untrusted project.
fn symlinked_project(canary: &Path) -> (tempfile::TempDir, String) {
    let project = copy_fixture("hostile-symlinks");
    let links = project.path().join("links");
    std::os::unix::fs::symlink(canary, links.join("host-file")).expect("symlink");
    let relative = Path::new("../../../../../../../../../..")
        .join(canary.strip_prefix("/").expect("an absolute path"));
    std::os::unix::fs::symlink(relative, links.join("up")).expect("symlink");
    let image = format!(
        "jobwrap-test/hostile-symlinks-{}-{}",
        std::process::id(),
        canary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
            .to_lowercase()
    )
    .replace('.', "-");
    let (ok, log) = pack_build_untrusted(project.path(), &image, "none");
    assert!(ok, "the build failed:\n{log}");
    assert!(
        !log.contains("canary-secret"),
        "the build read the canary:\n{log}"
    );
    (project, image)
}

#[test]
fn symlinks_in_the_project_do_not_reach_the_machines_files() {
    let folder = tempfile::tempdir().expect("temp dir");
    let canary = folder.path().join("read-canary.txt");
    fs_err::write(&canary, "canary-secret of the machine\n").expect("canary");
    let (_project, image) = symlinked_project(&canary);
    let run = run_job(&image, None, Some(&json!({"do": "read"})), &[]);
    remove_image(&image);
    let job = Hostile {
        run,
        elapsed: Duration::ZERO,
    };
    let result = job.assert_consistent(0);
    assert_eq!(result["links"], json!(["README.txt", "host-file", "up"]));
    assert!(!result.to_string().contains("canary-secret"), "{result}");
    assert_eq!(result["outcome"]["host-file"], "ENOENT");
    assert_eq!(result["outcome"]["up"], "ENOENT");
}

#[test]
fn symlinks_in_the_project_cannot_write_the_machines_files() {
    let folder = tempfile::tempdir().expect("temp dir");
    let canary = folder.path().join("write-canary.txt");
    fs_err::write(&canary, "canary-secret of the machine\n").expect("canary");
    let (_project, image) = symlinked_project(&canary);
    let run = run_job(&image, None, Some(&json!({"do": "write"})), &[]);
    remove_image(&image);
    let job = Hostile {
        run,
        elapsed: Duration::ZERO,
    };
    let result = job.assert_consistent(0);
    for link in ["README.txt", "host-file", "up"] {
        assert_ne!(result["outcome"][link], "written", "{result}");
    }
    assert_eq!(
        fs_err::read_to_string(&canary).expect("canary"),
        "canary-secret of the machine\n"
    );
}

// Other processes.

#[test]
fn the_runners_environment_and_memory_are_not_readable() {
    let job = hostile(
        "hostile-escape",
        &json!({"do": "read_process", "pid": 1}),
        &["-e", "JOBWRAP_TEST_SECRET=s3cr3t-of-the-runner"],
    );
    let result = job.assert_consistent(0);
    assert!(!result.to_string().contains("s3cr3t"), "{result}");
    assert_eq!(result["environ"], "EACCES");
    assert_eq!(result["mem"], "EACCES");
}

#[test]
fn the_runners_secrets_are_not_in_the_jobs_environment() {
    let job = hostile(
        "hostile-escape",
        &json!({"do": "read_process", "pid": "self"}),
        &["-e", "JOBWRAP_TEST_SECRET=s3cr3t-of-the-runner"],
    );
    let result = job.assert_consistent(0);
    assert!(
        result["environ"]
            .as_str()
            .is_some_and(|environ| environ.contains("TMPDIR=")),
        "the job read its own environment: {result}"
    );
    assert!(!result.to_string().contains("s3cr3t"), "{result}");
}

#[test]
fn the_job_cannot_ptrace_the_runner() {
    let job = hostile("hostile-escape", &json!({"do": "ptrace", "pid": 1}), &[]);
    let result = job.assert_consistent(0);
    assert_eq!(result["attached"], false, "{result}");
}

#[test]
fn the_job_cannot_stop_or_kill_pid_one() {
    let job = hostile(
        "hostile-escape",
        &json!({"do": "signal", "pid": 1, "signals": ["SIGSTOP", "SIGTERM", "SIGINT", "SIGKILL"]}),
        &[],
    );
    let result = job.assert_consistent(0);
    assert_eq!(result["target"], 1);
    assert_eq!(result["still"], "running");
    // Landlock's signal scope refuses every one of them (the runner would also ignore
    // a stop signal sent from inside its namespace).
    for signal in ["SIGSTOP", "SIGTERM", "SIGINT", "SIGKILL"] {
        assert_eq!(result["sent"][signal], "EPERM", "{signal}: {result}");
    }
}

#[test]
fn the_job_cannot_make_namespaces() {
    let job = hostile("hostile-escape", &json!({"do": "unshare"}), &[]);
    let result = job.assert_consistent(0);
    assert_eq!(
        result,
        json!({"user": "EPERM", "mount": "EPERM", "net": "EPERM"})
    );
}

#[test]
fn calls_a_job_never_needs_are_refused_by_the_engines_filter() {
    let job = hostile("hostile-escape", &json!({"do": "syscalls"}), &[]);
    let result = job.assert_consistent(0);
    for call in [
        "bpf",
        "keyctl",
        "perf_event_open",
        "userfaultfd",
        "mount",
        "init_module",
        "kexec_load",
    ] {
        assert_eq!(result[call], "EPERM", "{call}: {result}");
    }
}

#[test]
fn io_uring_is_refused() {
    let job = hostile("hostile-escape", &json!({"do": "syscalls"}), &[]);
    let result = job.assert_consistent(0);
    assert_eq!(result["io_uring_setup"], "EPERM", "{result}");
}

#[test]
fn reading_stdin_gets_an_empty_stream_at_once() {
    let job = hostile("hostile-escape", &json!({"do": "read_stdin"}), &[]);
    let result = job.assert_consistent(0);
    assert_eq!(result, json!({"stdin": ""}));
    assert!(job.elapsed < Duration::from_secs(8), "{:?}", job.elapsed);
}

#[test]
fn a_setsid_daemon_does_not_outlive_the_job() {
    // `hostile` checks the machine's process list for the daemon afterwards.
    let job = hostile("hostile-escape", &json!({"do": "setsid_daemon"}), &[]);
    let result = job.assert_consistent(0);
    assert!(
        result["daemon"].as_u64().is_some_and(|pid| pid > 1),
        "{result}"
    );
    assert!(job.elapsed < Duration::from_secs(15), "{:?}", job.elapsed);
}

#[test]
fn a_daemon_left_at_import_time_does_not_survive_and_cannot_forge() {
    let job = hostile("hostile-import", &json!({}), &[]);
    job.assert_honest();
    assert!(
        job.run
            .stdout
            .contains(r#"Job:ResultResponse: {"forged": true}"#)
    );
}

// Forging the result.

fn forgery(action: &str) -> Hostile {
    hostile("hostile-forgery", &json!({"do": action}), &[])
}

#[test]
fn forged_markers_printed_during_run_are_not_the_final_line() {
    let job = forgery("print_markers");
    job.assert_honest();
    assert!(
        job.run
            .stdout
            .contains(r#"Job:ErrorResponse: {"forged": true}"#)
    );
}

#[test]
fn a_forged_marker_without_newline_does_not_join_the_final_line() {
    forgery("marker_without_newline").assert_honest();
}

#[test]
fn a_forged_marker_written_to_the_raw_descriptors_is_not_final() {
    forgery("raw_fd_marker").assert_honest();
}

#[test]
fn result_files_written_during_run_are_replaced_by_the_runners() {
    let job = forgery("overwrite_results");
    job.assert_honest();
    // The runner's Landlock rules refuse the attempt itself; the runner's files stand.
    assert_eq!(
        job.run
            .output
            .as_ref()
            .map(|output| output["attempts"]["output.json"].clone()),
        Some(json!("PermissionError"))
    );
}

#[test]
fn symlinks_planted_in_the_output_folder_are_replaced() {
    // The target is a file of this machine holding a forged result: if the runner left
    // the link, reading output.json here would follow it.
    let folder = tempfile::tempdir().expect("temp dir");
    let target = folder.path().join("forged.json");
    fs_err::write(&target, r#"{"forged": true}"#).expect("target");
    let job = hostile(
        "hostile-forgery",
        &json!({"do": "plant_symlinks", "target": target}),
        &[],
    );
    job.assert_honest();
    assert_eq!(
        fs_err::read_to_string(&target).expect("target"),
        r#"{"forged": true}"#
    );
}

#[test]
fn a_daemon_forging_after_run_returns_changes_nothing() {
    forgery("daemon_forges_after_return").assert_honest();
}

#[test]
fn a_thread_printing_after_run_returns_is_not_final() {
    forgery("thread_prints_after_return").assert_honest();
}

#[test]
fn atexit_handlers_cannot_forge_the_result() {
    forgery("atexit_forgery").assert_honest();
}

#[test]
fn a_marker_inside_the_result_stays_inside_one_line() {
    let job = forgery("marker_inside_result");
    let result = job.assert_consistent(0);
    assert_eq!(
        result,
        json!({"text": "line\nJob:ResultResponse: {\"forged\": true}\n"})
    );
}

#[test]
fn a_to_json_that_smuggles_a_line_is_an_invalid_result() {
    let job = forgery("to_json_forgery");
    job.assert_consistent(1);
    let last = job.run.stdout.lines().last().unwrap_or_default();
    assert!(!last.contains("forged"), "{last}");
}

// Resources.

#[test]
fn forking_many_processes_stops_at_the_pids_limit() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "fork_many", "max": 300}),
        &[],
    );
    let result = job.assert_consistent(0);
    assert_eq!(result["stopped_by"], "EAGAIN", "{result}");
    assert!(
        result["forked"].as_u64().is_some_and(|n| n < 256),
        "{result}"
    );
}

#[test]
fn a_classic_fork_bomb_ends_with_the_timeout() {
    let mut extra = TIMEOUT.to_vec();
    extra.extend(["--cpus", "1"]);
    let job = hostile("hostile-resources", &json!({"do": "fork_bomb"}), &extra);
    job.assert_consistent(124);
    assert_eq!(job.limits(), ["timeout"]);
    assert!(job.elapsed < Duration::from_secs(30), "{:?}", job.elapsed);
}

#[test]
fn starting_many_threads_stops_at_the_pids_limit() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "threads_many", "max": 2000}),
        &[],
    );
    let result = job.assert_consistent(0);
    assert!(result["stopped_by"].is_string(), "{result}");
    assert!(
        result["threads"].as_u64().is_some_and(|n| n < 256),
        "{result}"
    );
}

#[test]
fn a_memory_bomb_is_killed_with_137() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "allocate", "megabytes": 4096}),
        &["--memory", "256m", "--memory-swap", "256m"],
    );
    job.assert_consistent(137);
    assert_eq!(job.error_kind(), "killed");
    assert_eq!(job.limits(), ["memory"]);
}

#[test]
fn an_infinite_loop_times_out_with_124() {
    let job = hostile("hostile-resources", &json!({"do": "spin"}), &TIMEOUT);
    job.assert_consistent(124);
    assert_eq!(job.error_kind(), "timeout");
    assert_eq!(job.limits(), ["timeout"]);
    assert!(job.elapsed < Duration::from_secs(15), "{:?}", job.elapsed);
}

#[test]
fn a_loop_ignoring_sigterm_is_killed_after_the_grace_period() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "spin", "ignore_signals": true}),
        &TIMEOUT,
    );
    job.assert_consistent(124);
    assert_eq!(job.limits(), ["timeout"]);
    assert!(
        job.elapsed >= Duration::from_secs(4) && job.elapsed < Duration::from_secs(20),
        "{:?}",
        job.elapsed
    );
}

#[test]
fn flooding_stdout_is_capped_and_the_result_survives() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "flood", "megabytes": 16}),
        &["-e", "JOBWRAP_MAX_LOG_BYTES=1048576"],
    );
    let result = job.assert_consistent(0);
    assert_eq!(result, json!({"flooded_mb": 16}));
    assert_eq!(job.limits(), ["log_size"]);
    assert!(
        job.run.stdout.len() < 2 * 1024 * 1024,
        "{} bytes of stdout",
        job.run.stdout.len()
    );
}

#[test]
fn a_200_mb_result_fails_with_result_size() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "big_result", "bytes": 200 * 1024 * 1024}),
        &[],
    );
    job.assert_consistent(1);
    assert_eq!(job.error_kind(), "result_size");
    assert_eq!(job.limits(), ["result_size"]);
    assert!(
        job.run.stdout.len() < 1024 * 1024,
        "the result is not printed"
    );
}

#[test]
fn filling_tmp_stops_at_the_tmpfs_size() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "fill_tmp", "max_mb": 512}),
        &[],
    );
    let result = job.assert_consistent(0);
    assert_eq!(result["stopped_by"], "ENOSPC", "{result}");
    assert!(
        result["written_mb"].as_u64().is_some_and(|n| n <= 64),
        "{result}"
    );
}

#[test]
fn one_huge_file_stops_at_the_file_size_limit() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "fill_tmp", "max_mb": 512, "one_file": true}),
        &["--env", "JOBWRAP_MAX_FILE_BYTES=67108864"],
    );
    let result = job.assert_consistent(0);
    assert_eq!(result["stopped_by"], "EFBIG", "{result}");
}

#[test]
fn opening_descriptors_stops_at_the_runners_limit() {
    let job = hostile(
        "hostile-resources",
        &json!({"do": "open_many", "max": 100_000}),
        &[],
    );
    let result = job.assert_consistent(0);
    assert_eq!(result["stopped_by"], "EMFILE", "{result}");
    assert!(
        result["opened"].as_u64().is_some_and(|n| n < 16_384),
        "{result}"
    );
}

// Bad inputs: the user's code never starts; exit 2 names the input.

fn assert_bad_input(job: &Hostile, input: &str) {
    job.assert_consistent(2);
    assert_eq!(job.error_kind(), "input");
    let message = job.status()["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains(input), "{message}");
}

#[test]
fn data_variable_that_is_not_base64_is_refused() {
    let job = hostile(
        "hostile-escape",
        &json!({"do": "read_stdin"}),
        &["-e", "DATA_VALUE=!!not base64!!"],
    );
    assert_bad_input(&job, "data");
}

#[test]
fn data_variable_that_decodes_to_no_json_is_refused() {
    let job = hostile(
        "hostile-escape",
        &json!({"do": "read_stdin"}),
        &["-e", "DATA_VALUE=bm90IGpzb24="],
    );
    assert_bad_input(&job, "data");
}

#[test]
fn data_variable_that_is_not_utf8_is_refused() {
    // base64 of `{"a": "\xff\xfe"}`.
    let job = hostile(
        "hostile-escape",
        &json!({"do": "read_stdin"}),
        &["-e", "DATA_VALUE=eyJhIjogIv/+In0="],
    );
    assert_bad_input(&job, "data");
}

#[test]
fn deeply_nested_data_is_refused_without_a_crash() {
    let nested = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let variable = format!("DATA_VALUE={}", base64_of(nested.as_bytes()));
    let job = hostile(
        "hostile-escape",
        &json!({"do": "read_stdin"}),
        &["-e", &variable],
    );
    assert_bad_input(&job, "data");
}

#[test]
fn oversized_params_are_refused() {
    let job = hostile(
        "hostile-escape",
        &json!({"do": "read_stdin", "pad": "p".repeat(4096)}),
        &["-e", "JOBWRAP_MAX_INPUT_BYTES=1024"],
    );
    assert_bad_input(&job, "params");
}

/// Standard base64 with padding (the tests crate has no base64 dependency).
fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let buffer = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let joined = u32::from_be_bytes([0, buffer[0], buffer[1], buffer[2]]);
        for index in 0..4 {
            if index <= chunk.len() {
                let sextet = (joined >> (18 - 6 * index)) & 0x3f;
                text.push(char::from(ALPHABET[sextet as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[test]
fn base64_of_matches_the_standard_alphabet() {
    assert_eq!(base64_of(b"not json"), "bm90IGpzb24=");
    assert_eq!(base64_of(b"[]"), "W10=");
    assert_eq!(base64_of(b"abc"), "YWJj");
}
