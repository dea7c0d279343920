//! The runner's own wall around the user's code: each layer blocks something real, and
//! with that layer switched off (`JOBWRAP_SANDBOX_DISABLE`, for tests and diagnosis) the
//! same attempt succeeds — so each test really tests its layer.

mod support;

use serde_json::{Value, json};
use std::net::TcpListener;
use support::Job;

fn attempt(params: &Value, disable: &str) -> (Value, Value) {
    let mut job = Job::new("contract-sandbox").params(params);
    if !disable.is_empty() {
        job = job.env("JOBWRAP_SANDBOX_DISABLE", disable);
    }
    let finished = job.run();
    finished.assert_consistent(0);
    (
        finished.final_json(),
        finished.status()["protections"].clone(),
    )
}

#[test]
fn status_lists_the_active_layers() {
    let (_, protections) = attempt(&json!({"try": "limits"}), "");
    for layer in [
        "not_dumpable",
        "no_new_privs",
        "rlimits",
        "seccomp",
        "landlock_fs",
        "landlock_net",
        "landlock_signal_scope",
    ] {
        assert!(
            protections
                .as_array()
                .is_some_and(|l| l.contains(&json!(layer))),
            "{layer} in {protections}"
        );
    }
    let (_, protections) = attempt(&json!({"try": "limits"}), "seccomp,landlock");
    assert_eq!(
        protections,
        json!(["not_dumpable", "no_new_privs", "rlimits"])
    );
}

#[test]
fn no_tcp_connection_leaves_the_job_and_the_listener_sees_none() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let (result, _) = attempt(&json!({"try": "connect", "port": port}), "");
    assert_eq!(result["connected"], json!(false), "{result}");
    assert!(listener.accept().is_err(), "the listener saw a connection");

    // Either wall alone holds: seccomp refuses the socket, Landlock the connect.
    let (result, _) = attempt(&json!({"try": "connect", "port": port}), "seccomp");
    assert_eq!(result, json!({"connected": false, "error": "EACCES"}));
    let (result, _) = attempt(&json!({"try": "connect", "port": port}), "landlock");
    assert_eq!(result, json!({"connected": false, "error": "EPERM"}));
    let (result, _) = attempt(&json!({"try": "connect", "port": port}), "seccomp,landlock");
    assert_eq!(
        result["connected"],
        json!(true),
        "without both walls the same attempt connects"
    );
    assert!(listener.accept().is_ok());
}

#[test]
fn the_file_system_is_read_only_outside_the_private_folder() {
    let job = Job::new("contract-sandbox");
    let outside = job.scratch("outside.txt");
    let (result, _) = attempt(&json!({"try": "write", "path": outside}), "");
    assert_eq!(result, json!({"written": false, "error": "EACCES"}));
    assert!(!outside.exists());
    let (result, _) = attempt(&json!({"try": "write_tmp"}), "");
    assert_eq!(result, json!({"written": true}), "TMPDIR stays writable");
    let (result, _) = attempt(&json!({"try": "write", "path": outside}), "landlock");
    assert_eq!(result, json!({"written": true}));
}

#[test]
fn io_uring_ptrace_and_namespaces_are_refused() {
    // Tracing the runner is refused by several layers at once (seccomp, Landlock, not
    // dumpable); allowed, it would stop the runner, so only the refusal is tried.
    let (result, _) = attempt(&json!({"try": "ptrace_runner"}), "");
    assert_eq!(result["errno"], json!("EPERM"), "{result}");
    for (name, disable) in [
        ("io_uring_setup", "seccomp"),
        ("ptrace_child", "seccomp"),
        ("unshare_user", "seccomp"),
    ] {
        let (result, _) = attempt(&json!({"try": name}), "");
        assert_eq!(result["errno"], json!("EPERM"), "{name}: {result}");
        let (result, _) = attempt(&json!({"try": name}), disable);
        assert_eq!(
            result["errno"],
            json!(""),
            "{name} without {disable}: {result}"
        );
    }
}

#[test]
fn the_job_cannot_signal_the_runner() {
    let (result, _) = attempt(&json!({"try": "signal_runner"}), "");
    assert_eq!(result, json!({"signalled": false, "error": "EPERM"}));
}

#[test]
fn no_core_dumps_and_a_file_size_limit() {
    let (result, _) = attempt(&json!({"try": "limits"}), "");
    assert_eq!(result["core"], json!([0, 0]));
    assert_eq!(
        result["fsize"],
        json!([1_073_741_824_u64, 1_073_741_824_u64])
    );
    let (result, _) = attempt(&json!({"try": "limits"}), "rlimits");
    assert_ne!(result["core"], json!([0, 0]));
}

#[test]
fn threads_and_child_processes_still_work() {
    let (result, _) = attempt(&json!({"try": "threads"}), "");
    assert_eq!(result, json!({"threads": 4, "child": "child ran"}));
}

#[test]
fn strict_mode_runs_when_every_layer_is_there() {
    let finished = Job::new("contract-sandbox")
        .params(&json!({"try": "limits"}))
        .env("JOBWRAP_STRICT", "1")
        .run();
    finished.assert_consistent(0);
}
