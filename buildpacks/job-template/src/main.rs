//! The `jobwrap/job-template` buildpack.
//!
//! detect: a job project (`planqk.json`, `jobwrap.toml` or `src/program.py`).
//! build: [`config`] (the project's settings) → [`entrypoint`] (checked without running
//! the user's code) → [`runner_layer`] (the runner, cached, with the launch env) → the
//! default process `job`.

mod app_permissions;
mod entrypoint;
mod errors;
mod runner_layer;

use crate::errors::JobTemplateError;
use indoc::formatdoc;
use job_template_buildpack::{MARKERS, config, plan};
use libcnb::build::{BuildContext, BuildResult, BuildResultBuilder};
use libcnb::data::build_plan::{BuildPlanBuilder, Require};
use libcnb::data::launch::{LaunchBuilder, ProcessBuilder};
use libcnb::data::process_type;
use libcnb::detect::{DetectContext, DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericMetadata, GenericPlatform};
use libcnb::{Buildpack, Env, Platform, buildpack_main};
use serde::Serialize;

#[cfg(test)]
use tempfile as _;

struct JobTemplateBuildpack;

impl Buildpack for JobTemplateBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = JobTemplateError;

    fn detect(&self, context: DetectContext<Self>) -> libcnb::Result<DetectResult, Self::Error> {
        if !is_job_project(&context.app_dir) {
            println!(
                "No job project here: looked for any of {} in the app directory.",
                MARKERS.join(", ")
            );
            return DetectResultBuilder::fail().build();
        }
        DetectResultBuilder::pass().build_plan(build_plan()).build()
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, Self::Error> {
        let env = context.platform.env();
        println!("[jobwrap job template]");
        let entrypoint_override = env.get_string_lossy("BP_JOBWRAP_ENTRYPOINT");
        let settings = config::read(&context.app_dir, entrypoint_override.as_deref())
            .map_err(JobTemplateError::Config)?;
        for warning in &settings.warnings {
            println!("Warning: {warning}");
        }
        println!("Entry point: {}", settings.entrypoint);

        entrypoint::check(&context.app_dir, &settings.entrypoint, &Env::from_current())
            .map_err(JobTemplateError::Entrypoint)?;
        println!(
            "Checked {} (compiles, defines the function).",
            settings.entrypoint
        );

        app_permissions::restrict(&context.app_dir).map_err(JobTemplateError::AppPermissions)?;
        println!("Made the app read-only for the job (no group or other write).");

        let runner = runner_layer::contribute(&context, &settings)?;

        BuildResultBuilder::new()
            .launch(
                LaunchBuilder::new()
                    .process(
                        ProcessBuilder::new(process_type!("job"), [runner.to_string_lossy()])
                            .default(true)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn on_error(&self, error: libcnb::Error<Self::Error>) {
        let message = match error {
            libcnb::Error::BuildpackError(error) => error.to_string(),
            other => formatdoc! {"
                Internal error in the jobwrap/job-template buildpack: {other}

                This is a bug in jobwrap, not in your project. Please report it with the
                build log.
            "},
        };
        eprintln!("\n[Error] {}", message.trim_end());
    }
}

fn is_job_project(app_dir: &std::path::Path) -> bool {
    MARKERS.iter().any(|marker| app_dir.join(marker).exists())
}

/// `CPython` and the installed dependencies at launch and build; the `or` alternative
/// serves projects without a dependency file (no buildpack then provides site-packages).
fn build_plan() -> libcnb::data::build_plan::BuildPlan {
    #[derive(Serialize)]
    struct Phases {
        launch: bool,
        build: bool,
    }
    let require = |name: &str| {
        let mut require = Require::new(name);
        // Serialising two booleans into a table cannot fail.
        let _ = require.metadata(Phases {
            launch: true,
            build: true,
        });
        require
    };
    let mut builder = BuildPlanBuilder::new();
    for name in plan::REQUIRES_WITH_DEPENDENCIES {
        builder = builder.requires(require(name));
    }
    builder = builder.or();
    for name in plan::REQUIRES_WITHOUT_DEPENDENCIES {
        builder = builder.requires(require(name));
    }
    builder.build()
}

buildpack_main!(JobTemplateBuildpack);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_marker_and_nothing_else() {
        for marker in MARKERS {
            let app = tempfile::tempdir().expect("temp dir");
            let path = app.path().join(marker);
            fs_err::create_dir_all(path.parent().expect("parent")).expect("dirs");
            fs_err::write(&path, "").expect("marker");
            assert!(is_job_project(app.path()), "{marker}");
        }
        let app = tempfile::tempdir().expect("temp dir");
        fs_err::write(app.path().join("requirements.txt"), "numpy").expect("file");
        fs_err::write(app.path().join("main.py"), "").expect("file");
        assert!(!is_job_project(app.path()));
    }

    #[test]
    fn the_plan_requires_python_for_launch_with_an_alternative_without_dependencies() {
        let plan = serde_json::to_value(build_plan()).expect("serialises");
        let phases = serde_json::json!({"launch": true, "build": true});
        let require = |name: &str| serde_json::json!({"name": name, "metadata": phases});
        assert_eq!(
            plan["requires"],
            serde_json::json!([require("cpython"), require("site-packages")])
        );
        assert_eq!(
            plan["or"][0]["requires"],
            serde_json::json!([require("cpython")])
        );
        assert_eq!(plan["or"].as_array().map(Vec::len), Some(1));
    }
}
