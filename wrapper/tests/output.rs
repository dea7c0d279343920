//! The output folder: results replace whatever was there, and a folder that cannot be
//! used still leaves the result on stdout.

mod support;

use serde_json::json;
use support::Job;

#[test]
fn planted_symlinks_and_stale_results_are_replaced_not_followed() {
    let job = Job::new("contract-actions").params(&json!({"do": "echo"}));
    let victim = job.scratch("victim.txt");
    fs_err::write(&victim, "untouched").expect("victim");
    fs_err::create_dir_all(job.output_dir()).expect("output dir");
    std::os::unix::fs::symlink(&victim, job.output_dir().join("output.json")).expect("symlink");
    fs_err::write(job.output_dir().join("status.json"), "stale").expect("stale status");
    let finished = job.run();
    finished.assert_consistent(0);
    assert_eq!(
        fs_err::read_to_string(&victim).expect("victim"),
        "untouched"
    );
    for name in ["output.json", "status.json"] {
        let path = job.output_dir().join(name);
        let meta = fs_err::symlink_metadata(&path).expect("written");
        assert!(meta.file_type().is_file(), "{name} is a regular file now");
    }
    let leftovers: Vec<_> = fs_err::read_dir(job.output_dir())
        .expect("output dir")
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn an_unusable_output_folder_still_gives_the_result_line() {
    let job = Job::new("contract-actions").params(&json!({"do": "echo"}));
    // A file where the folder should be: it can be neither created nor written.
    fs_err::write(job.output_dir(), "not a folder").expect("blocker");
    let finished = job.run();
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(finished.output.is_none() && finished.status.is_none());
    assert_eq!(
        finished.final_json(),
        json!({"data": {}, "params": {"do": "echo"}})
    );
    assert!(
        finished
            .stderr
            .contains("jobwrap: warning: cannot use the output folder")
            && finished.stderr.contains("JOBWRAP_OUTPUT_DIR"),
        "{}",
        finished.stderr
    );
}
