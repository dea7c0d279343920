//! The memory limit: a job killed by the kernel's OOM killer in its cgroup.

mod support;

use serde_json::json;
use support::Job;

#[test]
fn a_job_over_its_memory_limit_is_killed_with_137() {
    let finished = Job::new("contract-actions")
        .with_memory_limit(150 * 1024 * 1024)
        .params(&json!({"do": "allocate", "megabytes": 4096}))
        .run();
    finished.assert_consistent(137);
    assert_eq!(finished.error_kind(), "killed");
    assert_eq!(finished.limits(), ["memory"]);
    assert!(
        finished.error_message().contains("memory limit"),
        "{}",
        finished.error_message()
    );
}

#[test]
fn a_job_under_its_memory_limit_is_not_affected() {
    let finished = Job::new("contract-actions")
        .with_memory_limit(300 * 1024 * 1024)
        .params(&json!({"do": "allocate", "megabytes": 20}))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"allocated": 20}));
    assert!(finished.limits().is_empty());
}
