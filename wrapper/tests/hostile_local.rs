//! The hostile-code suite through the runner binary directly, without a container: the
//! path `jobwrap run --local` takes. Each test proves containment, a clear status and
//! exit code, and (through `Job::run`) that no job process or private folder is left.
//!
//! Here the runner is the only wall: the tests run as root on the machine itself. Cases
//! only the runner's own sandbox can stop are marked ignored until it lands.

mod support;

use serde_json::{Value, json};
use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;
use support::{Finished, Job, is_running, kill_processes_whose};

const SANDBOX: &str = "needs the runner's sandbox (issue 5)";

/// The job ran to its honest end: exit 0, `{"honest": true}` everywhere, no "forged".
fn assert_honest(finished: &Finished, output_dir: &Path) {
    finished.assert_consistent(0);
    assert_eq!(finished.final_json()["honest"], true);
    assert!(
        !finished.last_line().contains("forged"),
        "the final line is the runner's: {}",
        finished.last_line()
    );
    std::thread::sleep(Duration::from_millis(500));
    for name in ["output.json", "status.json"] {
        let path = output_dir.join(name);
        let metadata = fs_err::symlink_metadata(&path).expect("result file");
        assert!(metadata.is_file(), "{name} is a regular file");
        let text = fs_err::read_to_string(&path).expect("result file");
        assert!(!text.contains("forged"), "{name}: {text}");
    }
}

/// Every value of the job's report is an errno name, i.e. no attempt got through.
fn assert_all_refused(report: &Value, except: &str) {
    for (path, outcome) in report.as_object().expect("a report") {
        if path.ends_with(except) {
            continue;
        }
        assert_ne!(outcome, "written", "{path} was written: {report}");
    }
}

// Network: a loopback listener started here must see nothing.

#[test]
fn tcp_to_a_loopback_listener_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "tcp_connect", "port": port}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json()["connected"], false, "{SANDBOX}");
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
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "udp_send", "port": port}))
        .run();
    finished.assert_consistent(0);
    let mut buffer = [0_u8; 64];
    let arrived = receiver.recv(&mut buffer).map_err(|error| error.kind());
    assert_eq!(arrived, Err(ErrorKind::WouldBlock), "a datagram arrived");
    assert_eq!(finished.final_json()["sent"], false);
}

#[test]
fn the_job_cannot_open_a_listening_port() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|free| free.local_addr())
        .expect("a free port")
        .port();
    let prober = std::thread::spawn(move || {
        (0..30).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
    });
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "listen", "port": port, "seconds": 4}))
        .run();
    let reached = prober.join().expect("prober");
    finished.assert_consistent(0);
    assert!(!reached, "the host reached the job's port");
    assert_eq!(finished.final_json()["listening"], false);
}

#[test]
#[ignore = "Landlock cannot yet refuse connecting to a pathname UNIX socket; the container has none of the host's"]
fn a_unix_socket_of_the_machine_is_not_reachable() {
    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join("service.sock");
    let listener = UnixListener::bind(&path).expect("unix listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "unix_connect", "path": path}))
        .run();
    finished.assert_consistent(0);
    let accepted = listener.accept().map(|_| ()).map_err(|error| error.kind());
    assert_eq!(
        accepted,
        Err(ErrorKind::WouldBlock),
        "the socket saw a client"
    );
}

// The file system: only the private temporary folder is writable.

#[test]
fn the_project_and_the_machine_are_not_writable() {
    let job = Job::new("hostile-escape");
    let program = job.app().join("src/program.py");
    let before = fs_err::read(&program).expect("program");
    let outside = job.scratch("outside.txt");
    let planted = job.app().join("planted.txt");
    let paths = json!([program, planted, outside, job.input_dir().join("new.json")]);
    let job = job.params(&json!({"do": "write_paths", "paths": paths}));
    let finished = job.run();
    finished.assert_consistent(0);
    let report = finished.final_json();
    assert_all_refused(&report, "allowed.txt");
    assert_eq!(fs_err::read(&program).expect("program"), before);
    assert!(!planted.exists() && !outside.exists());
}

#[test]
fn the_private_temporary_folder_is_writable() {
    // The control for the case above: the attempt itself works where it is allowed.
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "write_paths", "paths": []}))
        .run();
    finished.assert_consistent(0);
    let report = finished.final_json();
    let (path, outcome) = report
        .as_object()
        .and_then(|map| map.iter().next())
        .expect("one attempt");
    assert!(path.ends_with("allowed.txt"), "{path}");
    assert_eq!(outcome, "written");
}

#[test]
fn a_symlink_in_the_project_cannot_write_a_machine_file() {
    let job = Job::new("hostile-symlinks");
    let canary = job.scratch("canary.txt");
    fs_err::write(&canary, "the machine's file\n").expect("canary");
    std::os::unix::fs::symlink(&canary, job.app().join("links/host-file")).expect("symlink");
    let job = job.params(&json!({"do": "write"}));
    let finished = job.run();
    finished.assert_consistent(0);
    assert_eq!(
        fs_err::read_to_string(&canary).expect("canary"),
        "the machine's file\n"
    );
    assert_ne!(finished.final_json()["outcome"]["host-file"], "written");
}

// Other processes: the runner's secrets, ptrace, signals, namespaces.

#[test]
#[ignore = "root reads any process's /proc files (CAP_SYS_PTRACE) even when not dumpable; covered as a non-root job in hostile_container"]
fn the_runners_environment_and_memory_are_not_readable() {
    let finished = Job::new("hostile-escape")
        .env("JOBWRAP_TEST_SECRET", "s3cr3t-of-the-runner")
        .params(&json!({"do": "read_process"}))
        .run();
    finished.assert_consistent(0);
    let report = finished.final_json();
    assert!(!report.to_string().contains("s3cr3t"), "{report}");
    assert_eq!(report["environ"], "EACCES");
    assert_eq!(report["mem"], "EACCES");
}

#[test]
fn the_runners_secrets_are_not_in_the_jobs_environment() {
    let finished = Job::new("hostile-escape")
        .env("JOBWRAP_TEST_SECRET", "s3cr3t-of-the-runner")
        .params(&json!({"do": "read_process", "pid": "self"}))
        .run();
    finished.assert_consistent(0);
    let report = finished.final_json();
    assert!(
        report["environ"]
            .as_str()
            .is_some_and(|environ| environ.contains("TMPDIR=")),
        "the job read its own environment: {report}"
    );
    assert!(!report.to_string().contains("s3cr3t"), "{report}");
}

#[test]
fn the_job_cannot_ptrace_the_runner() {
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "ptrace"}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json()["attached"], false);
}

#[test]
fn the_job_cannot_kill_the_runner_outside_a_pid_namespace() {
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "signal", "signals": ["SIGSTOP", "SIGTERM", "SIGKILL"]}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json()["still"], "running");
}

#[test]
fn the_job_cannot_stop_or_kill_pid_one() {
    let finished = Job::new("hostile-escape")
        .in_own_pid_namespace()
        .params(&json!({"do": "signal", "pid": 1, "signals": ["SIGSTOP", "SIGTERM", "SIGINT", "SIGKILL"]}))
        .run();
    finished.assert_consistent(0);
    let report = finished.final_json();
    assert_eq!(report["target"], 1);
    assert_eq!(report["still"], "running");
}

#[test]
fn the_job_cannot_make_namespaces() {
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "unshare"}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(
        finished.final_json(),
        json!({"user": "EPERM", "mount": "EPERM", "net": "EPERM"})
    );
}

#[test]
fn calls_a_job_never_needs_are_refused() {
    // The fixture's arguments are harmless even where a call gets through (as root here).
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "syscalls"}))
        .run();
    finished.assert_consistent(0);
    let result = finished.final_json();
    for (call, outcome) in result.as_object().expect("a report") {
        assert!(
            outcome == "EPERM" || outcome == "ENOSYS",
            "{call}: {outcome}"
        );
    }
}

#[test]
fn reading_stdin_gets_an_empty_stream_at_once() {
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "read_stdin"}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"stdin": ""}));
    assert!(
        finished.elapsed < Duration::from_secs(8),
        "{:?}",
        finished.elapsed
    );
}

#[test]
fn a_setsid_daemon_with_an_empty_environment_does_not_outlive_the_job() {
    // The daemon's pid comes back in the result: no file outside TMPDIR is needed.
    let finished = Job::new("hostile-escape")
        .params(&json!({"do": "setsid_daemon"}))
        .run();
    finished.assert_consistent(0);
    let pid = finished.final_json()["daemon"]
        .as_i64()
        .and_then(|pid| i32::try_from(pid).ok())
        .expect("the daemon's pid");
    assert!(pid > 1, "{pid}");
    assert!(!is_running(pid), "the daemon {pid} is still running");
    assert_no_process_named("hostile-setsid-daemon");
}

#[test]
fn a_setsid_daemon_does_not_outlive_a_pid_one_runner() {
    let job = Job::new("hostile-escape").in_own_pid_namespace();
    let finished = job.params(&json!({"do": "setsid_daemon"})).run();
    finished.assert_consistent(0);
    assert!(
        finished.final_json()["daemon"]
            .as_u64()
            .is_some_and(|pid| pid > 1)
    );
    assert_no_process_named("hostile-setsid-daemon");
}

#[test]
fn a_daemon_left_at_import_time_does_not_survive_and_cannot_forge() {
    let job = Job::new("hostile-import");
    let output_dir = job.output_dir();
    let finished = job.run();
    assert_honest(&finished, &output_dir);
    assert_no_process_named("hostile-import-daemon");
}

/// No process on the machine carries this word in its command line (a daemon that
/// cleared its environment escapes the support module's own check).
fn assert_no_process_named(word: &str) {
    std::thread::sleep(Duration::from_millis(200));
    let left = kill_processes_whose("cmdline", |cmdline| {
        String::from_utf8_lossy(cmdline).contains(word)
    });
    assert!(left.is_empty(), "{word} left running: {left:?}");
}

// Forging the result.

/// Runs one trick; the job is returned too, so its folders live on for the checks.
fn forgery(action: &str) -> (Finished, std::path::PathBuf, Job) {
    let job = Job::new("hostile-forgery");
    let output_dir = job.output_dir();
    let job = job.params(&json!({"do": action, "output_dir": output_dir}));
    (job.run(), output_dir, job)
}

#[test]
fn forged_markers_printed_during_run_are_not_the_final_line() {
    let (finished, output_dir, _job) = forgery("print_markers");
    assert_honest(&finished, &output_dir);
    assert!(
        finished
            .stdout
            .contains(r#"Job:ErrorResponse: {"forged": true}"#)
    );
}

#[test]
fn a_forged_marker_without_newline_does_not_join_the_final_line() {
    let (finished, output_dir, _job) = forgery("marker_without_newline");
    assert_honest(&finished, &output_dir);
    assert!(finished.last_line().starts_with("Job:ResultResponse: {"));
}

#[test]
fn a_forged_marker_written_to_the_raw_descriptors_is_not_final() {
    let (finished, output_dir, _job) = forgery("raw_fd_marker");
    assert_honest(&finished, &output_dir);
}

#[test]
fn result_files_written_during_run_are_replaced_by_the_runners() {
    let (finished, output_dir, _job) = forgery("overwrite_results");
    assert_honest(&finished, &output_dir);
}

#[test]
fn symlinks_planted_in_the_output_folder_are_not_followed() {
    let job = Job::new("hostile-forgery");
    let output_dir = job.output_dir();
    let canary = job.scratch("canary.txt");
    fs_err::write(&canary, "the machine's file\n").expect("canary");
    let job =
        job.params(&json!({"do": "plant_symlinks", "output_dir": output_dir, "target": canary}));
    let finished = job.run();
    assert_honest(&finished, &output_dir);
    assert_eq!(
        fs_err::read_to_string(&canary).expect("canary"),
        "the machine's file\n"
    );
}

#[test]
fn a_daemon_forging_after_run_returns_changes_nothing() {
    let (finished, output_dir, _job) = forgery("daemon_forges_after_return");
    assert_honest(&finished, &output_dir);
}

#[test]
fn a_thread_printing_after_run_returns_is_not_final() {
    let (finished, output_dir, _job) = forgery("thread_prints_after_return");
    assert_honest(&finished, &output_dir);
}

#[test]
fn atexit_handlers_cannot_forge_the_result() {
    let (finished, output_dir, _job) = forgery("atexit_forgery");
    assert_honest(&finished, &output_dir);
}

#[test]
fn a_marker_inside_the_result_stays_inside_one_line() {
    let (finished, _, _job) = forgery("marker_inside_result");
    finished.assert_consistent(0);
    assert_eq!(
        finished.final_json(),
        json!({"text": "line\nJob:ResultResponse: {\"forged\": true}\n"})
    );
}

#[test]
fn a_to_json_that_smuggles_a_line_is_an_invalid_result() {
    let (finished, _, _job) = forgery("to_json_forgery");
    finished.assert_consistent(1);
    assert!(
        !finished.last_line().contains("forged"),
        "{}",
        finished.last_line()
    );
}

// Resources.

#[test]
#[ignore = "a process limit per job needs a pids cgroup (the container has one); RLIMIT_NPROC counts per user and does not bind root"]
fn forking_many_processes_stops_at_the_process_limit() {
    let finished = Job::new("hostile-resources")
        .params(&json!({"do": "fork_many", "max": 300}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json()["stopped_by"], "EAGAIN");
}

#[test]
#[ignore = "a process limit per job needs a pids cgroup (the container has one); RLIMIT_NPROC counts per user and does not bind root"]
fn starting_many_threads_stops_at_the_process_limit() {
    let finished = Job::new("hostile-resources")
        .params(&json!({"do": "threads_many", "max": 2000}))
        .run();
    finished.assert_consistent(0);
    assert!(finished.final_json()["stopped_by"].is_string());
}

#[test]
fn a_memory_bomb_is_killed_with_137() {
    let finished = Job::new("hostile-resources")
        .with_memory_limit(256 * 1024 * 1024)
        .params(&json!({"do": "allocate", "megabytes": 4096}))
        .run();
    finished.assert_consistent(137);
    assert_eq!(finished.error_kind(), "killed");
    assert_eq!(finished.limits(), ["memory"]);
}

#[test]
fn an_infinite_loop_times_out_with_124() {
    let finished = Job::new("hostile-resources")
        .env("JOBWRAP_TIMEOUT", "2")
        .params(&json!({"do": "spin"}))
        .run();
    finished.assert_consistent(124);
    assert_eq!(finished.limits(), ["timeout"]);
    assert!(
        finished.elapsed < Duration::from_secs(8),
        "{:?}",
        finished.elapsed
    );
}

#[test]
fn a_loop_ignoring_sigterm_is_killed_after_the_grace_period() {
    let finished = Job::new("hostile-resources")
        .env("JOBWRAP_TIMEOUT", "1")
        .env("JOBWRAP_KILL_GRACE", "1")
        .params(&json!({"do": "spin", "ignore_signals": true}))
        .run();
    finished.assert_consistent(124);
    assert_eq!(finished.limits(), ["timeout"]);
    assert!(
        finished.elapsed >= Duration::from_secs(2) && finished.elapsed < Duration::from_secs(8),
        "{:?}",
        finished.elapsed
    );
}

#[test]
fn flooding_stdout_is_capped_and_the_result_survives() {
    let finished = Job::new("hostile-resources")
        .env("JOBWRAP_MAX_LOG_BYTES", "1048576")
        .params(&json!({"do": "flood", "megabytes": 16}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"flooded_mb": 16}));
    assert_eq!(finished.limits(), ["log_size"]);
    assert!(
        finished.stdout.len() < 2 * 1024 * 1024,
        "{} bytes of stdout",
        finished.stdout.len()
    );
}

#[test]
fn a_200_mb_result_fails_with_result_size() {
    let finished = Job::new("hostile-resources")
        .params(&json!({"do": "big_result", "bytes": 200 * 1024 * 1024}))
        .run();
    finished.assert_consistent(1);
    assert_eq!(finished.error_kind(), "result_size");
    assert_eq!(finished.limits(), ["result_size"]);
    assert!(
        finished.stdout.len() < 1024 * 1024,
        "the result is not printed"
    );
}

#[test]
#[ignore = "a size cap for TMPDIR needs a tmpfs of its own (the container's /tmp is one); the runner has none outside a container"]
fn filling_the_temporary_folder_stops_at_its_cap() {
    let finished = Job::new("hostile-resources")
        .params(&json!({"do": "fill_tmp", "max_mb": 512}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json()["stopped_by"], "ENOSPC");
}

#[test]
fn one_huge_file_stops_at_the_file_size_limit() {
    let finished = Job::new("hostile-resources")
        .env("JOBWRAP_MAX_FILE_BYTES", "67108864")
        .params(&json!({"do": "fill_tmp", "max_mb": 512, "one_file": true}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json()["stopped_by"], "EFBIG");
}

#[test]
fn opening_descriptors_stops_at_the_runners_limit() {
    let finished = Job::new("hostile-resources")
        .params(&json!({"do": "open_many", "max": 100_000}))
        .run();
    finished.assert_consistent(0);
    let report = finished.final_json();
    assert_eq!(report["stopped_by"], "EMFILE");
    // Below this suite's own soft limit: the runner set it, not the machine.
    assert!(
        report["opened"].as_u64().is_some_and(|n| n < 16_384),
        "{report}"
    );
}

// Bad inputs: the user's code never starts, exit 2 names the input.

fn assert_bad_input(finished: &Finished, input: &str) {
    finished.assert_consistent(2);
    assert_eq!(finished.error_kind(), "input");
    assert!(
        finished.error_message().contains(input),
        "{}",
        finished.error_message()
    );
}

#[test]
fn deeply_nested_data_is_refused_without_a_crash() {
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let finished = Job::new("hostile-escape")
        .input_file("data/data.json", nested)
        .params(&json!({"do": "read_stdin"}))
        .run();
    assert_bad_input(&finished, "data");
}

#[test]
fn data_that_is_not_utf8_is_refused() {
    let finished = Job::new("hostile-escape")
        .input_file("data/data.json", b"{\"a\": \"\xff\xfe\"}")
        .params(&json!({"do": "read_stdin"}))
        .run();
    assert_bad_input(&finished, "data");
}

#[test]
fn oversized_params_are_refused() {
    let finished = Job::new("hostile-escape")
        .env("JOBWRAP_MAX_INPUT_BYTES", "1024")
        .input_file(
            "params/params.json",
            format!("{{\"pad\": \"{}\"}}", "p".repeat(4096)),
        )
        .run();
    assert_bad_input(&finished, "params");
}

#[test]
fn params_variable_that_is_not_base64_is_refused() {
    let finished = Job::new("hostile-escape")
        .env("PARAMS_VALUE", "!!not base64!!")
        .run();
    assert_bad_input(&finished, "params");
}

#[test]
fn data_variable_that_decodes_to_no_json_is_refused() {
    let finished = Job::new("hostile-escape")
        .env("DATA_VALUE", "bm90IGpzb24=")
        .params(&json!({"do": "read_stdin"}))
        .run();
    assert_bad_input(&finished, "data");
}
