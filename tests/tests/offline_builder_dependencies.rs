//! `requirements.txt` is installed: from a `vendor/` folder of wheels with the build's
//! network off (the way the host CLI builds user projects), or from the package index.

use jobwrap_integration_tests::{
    built_image, copy_fixture, in_image, offline_build, pack_build_untrusted, remove_image,
    run_job, samples,
};
use libcnb_test::TestRunner;
use serde_json::json;
use std::process::Command;

#[test]
fn vendored_wheels_install_with_the_network_off_in_the_untrusted_flow() {
    let app = copy_fixture("numpy-result");
    let downloaded = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
        ])
        .arg(app.path().join("vendor"))
        .arg("--requirement")
        .arg(app.path().join("requirements.txt"))
        .status()
        .expect("pip runs");
    assert!(downloaded.success(), "pip download of numpy's wheel failed");

    let image = "jobwrap-test/vendored-numpy";
    // A first build: no earlier image to take layers from (the cache is cleared too).
    remove_image(image);
    let (built, output) = pack_build_untrusted(app.path(), image, "none");
    assert!(built, "{output}");
    assert!(
        output.contains("Installing requirements.txt offline from vendor/."),
        "{output}"
    );
    // The environment holds the requirements and nothing else: no pip, no setuptools.
    let installed = in_image(image, "ls \"$VIRTUAL_ENV\"/lib/python3*/site-packages");
    let sample = samples::numpy_result();
    let run = run_job(image, sample.data.as_ref(), sample.params.as_ref(), &[]);
    remove_image(image);
    let mut names: Vec<&str> = installed
        .lines()
        // (Leaving out `numpy-2.x.dist-info` and `numpy.libs`.)
        .filter(|name| !name.contains('.'))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["numpy"], "{installed}");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.final_json(), sample.result);
}

#[test]
fn without_vendor_requirements_come_from_the_package_index_over_the_host_network() {
    TestRunner::default().build(offline_build("index-dependency"), |context| {
        assert!(
            context
                .pack_stdout
                .contains("Installing requirements.txt from the package index.")
        );
        let run = run_job(&built_image(&context.pack_stdout), None, None, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.final_json(), json!({"six": "1.16.0"}));
    });
}
