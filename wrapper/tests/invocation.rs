//! How `run()` is called: keywords, `**kwargs`, positional; working directory, path.

mod support;

use serde_json::json;
use support::Job;

#[test]
fn positional_when_the_names_differ() {
    let finished = Job::new("contract-positional")
        .data(&json!(1))
        .params(&json!(2))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"first": 1, "second": 2}));
}

#[test]
fn keyword_only_parameters_get_keywords() {
    let finished = Job::new("contract-keyword-only")
        .data(&json!("d"))
        .params(&json!("p"))
        .run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"data": "d", "params": "p"}));
}

#[test]
fn a_signature_that_fits_no_form_is_an_invalid_project() {
    let finished = Job::new("contract-one-argument").run();
    finished.assert_consistent(3);
    assert_eq!(finished.error_kind(), "entrypoint");
    assert!(
        finished.error_message().contains("run(data)"),
        "{}",
        finished.error_message()
    );
}

#[test]
fn an_async_run_is_awaited() {
    let finished = Job::new("contract-async").run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"awaited": true}));
}

#[test]
fn a_missing_dependency_is_an_invalid_project_with_the_traceback() {
    let finished = Job::new("contract-import-error").run();
    finished.assert_consistent(3);
    assert_eq!(finished.error_kind(), "import");
    assert!(
        finished
            .error_message()
            .contains("package_that_is_not_installed")
    );
    let traceback = finished.status()["error"]["traceback"]
        .as_str()
        .expect("traceback");
    assert!(traceback.contains("src/program.py"), "{traceback}");
    assert!(!traceback.contains("jobwrap_shim"), "{traceback}");
}

#[test]
fn a_missing_function_names_the_file_and_function() {
    let finished = Job::new("contract-no-run").run();
    finished.assert_consistent(3);
    assert_eq!(finished.error_kind(), "entrypoint");
    let message = finished.error_message();
    assert!(
        message.contains("src/program.py") && message.contains("'run'"),
        "{message}"
    );
}

#[test]
fn a_missing_module_names_what_was_looked_for() {
    let job = Job::new("contract-actions");
    fs_err::remove_file(job.app().join("src/program.py")).expect("remove program");
    let finished = job.run();
    finished.assert_consistent(3);
    assert_eq!(finished.error_kind(), "entrypoint");
    assert!(
        finished.error_message().contains("src/program.py"),
        "{}",
        finished.error_message()
    );
}

#[test]
fn another_entry_point_can_be_chosen() {
    let job = Job::new("contract-no-run").env("JOBWRAP_ENTRYPOINT", "src.program:main");
    let finished = job.run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({}));
}

#[test]
fn runs_in_the_app_directory_with_it_first_on_the_path_and_no_stdin() {
    let job = Job::new("contract-actions").params(&json!({"do": "environment"}));
    let finished = job.run();
    finished.assert_consistent(0);
    let seen = finished.final_json();
    let app = job.app().display().to_string();
    assert_eq!(seen["cwd"], json!(app));
    assert_eq!(seen["path0"], json!(app));
    assert_eq!(seen["stdin"], json!(""));
    assert_eq!(seen["argv"], json!(["src/program.py"]));
}

#[test]
fn modules_in_the_app_named_like_the_standard_library_do_not_break_the_runner() {
    shadowed_standard_modules_are_ignored(Job::new("contract-positional"));
}

#[test]
fn the_built_in_shim_runs_jobs_when_none_is_installed() {
    shadowed_standard_modules_are_ignored(Job::new("contract-positional").inline_shim());
    let finished = Job::new("contract-import-error").inline_shim().run();
    finished.assert_consistent(3);
    let traceback = finished.status()["error"]["traceback"]
        .as_str()
        .expect("traceback")
        .to_owned();
    assert!(traceback.contains("src/program.py"), "{traceback}");
    assert!(!traceback.contains("<string>"), "{traceback}");
}

#[test]
fn a_shim_of_another_runner_is_not_used() {
    let job = Job::new("contract-positional")
        .data(&json!(1))
        .params(&json!(2));
    let foreign = job.scratch("foreign-shim");
    fs_err::create_dir_all(&foreign).expect("mkdir");
    fs_err::write(
        foreign.join("jobwrap_shim.py"),
        "raise SystemExit('the foreign shim ran')\n",
    )
    .expect("write");
    let finished = job.env("JOBWRAP_SHIM_DIR", &foreign).run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"first": 1, "second": 2}));
    assert!(
        finished.stderr.contains("not this runner's"),
        "{}",
        finished.stderr
    );
}

fn shadowed_standard_modules_are_ignored(job: Job) {
    let job = job.data(&json!(1)).params(&json!(2));
    for name in [
        "json",
        "inspect",
        "socket",
        "traceback",
        "importlib",
        "types",
    ] {
        fs_err::write(
            job.app().join(format!("{name}.py")),
            format!("print('the app shadowed {name}')\n"),
        )
        .expect("shadowing module");
    }
    let finished = job.run();
    finished.assert_consistent(0);
    assert_eq!(finished.final_json(), json!({"first": 1, "second": 2}));
    assert!(!finished.stdout.contains("shadowed"), "{}", finished.stdout);
}

#[test]
fn a_missing_app_directory_is_a_wrapper_error_naming_it() {
    let job = Job::new("contract-actions");
    fs_err::remove_dir_all(job.app()).expect("remove app");
    let finished = job.run();
    finished.assert_consistent(125);
    assert_eq!(finished.error_kind(), "wrapper");
    let message = finished.error_message();
    assert!(
        message.contains(&job.app().display().to_string()) && message.contains("JOBWRAP_APP_DIR"),
        "{message}"
    );
}
