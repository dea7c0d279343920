//! The `jobwrap/python` buildpack for the offline builder.
//!
//! detect: a job project or a `requirements.txt`; provides `cpython` and `site-packages`.
//! build: [`python`] (the stack's interpreter) → [`venv_layer`] (a cached virtual
//! environment with the requirements installed, pip's cache kept between builds).

mod errors;
mod python;
mod venv_layer;

use crate::errors::PythonError;
use libcnb::build::{BuildContext, BuildResult, BuildResultBuilder};
use libcnb::data::build_plan::BuildPlanBuilder;
use libcnb::detect::{DetectContext, DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericMetadata, GenericPlatform};
use libcnb::{Buildpack, buildpack_main};
#[cfg(test)]
use tempfile as _;

/// Files that make a directory a Python project this buildpack serves.
const MARKERS: [&str; 4] = [
    "requirements.txt",
    "planqk.json",
    "jobwrap.toml",
    "src/program.py",
];
/// What this buildpack provides: the names Paketo's Python buildpacks use.
const PROVIDES: [&str; 2] = ["cpython", "site-packages"];

struct PythonBuildpack;

impl Buildpack for PythonBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = PythonError;

    fn detect(&self, context: DetectContext<Self>) -> libcnb::Result<DetectResult, Self::Error> {
        if !MARKERS
            .iter()
            .any(|marker| context.app_dir.join(marker).exists())
        {
            println!(
                "No Python job project here: looked for any of {}.",
                MARKERS.join(", ")
            );
            return DetectResultBuilder::fail().build();
        }
        let mut plan = BuildPlanBuilder::new();
        for name in PROVIDES {
            plan = plan.provides(name);
        }
        // Require them too, so the plan resolves when this buildpack runs alone.
        for name in PROVIDES {
            plan = plan.requires(name);
        }
        DetectResultBuilder::pass().build_plan(plan.build()).build()
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, Self::Error> {
        println!("[jobwrap Python]");
        for other in ["Pipfile", "environment.yml", "poetry.lock"] {
            if context.app_dir.join(other).exists()
                && !context.app_dir.join("requirements.txt").exists()
            {
                println!(
                    "Warning: {other} is not installed by jobwrap/python, which reads requirements.txt only. \
                     Add a requirements.txt, or build with jobwrap/builder (Paketo), which supports it."
                );
            }
        }
        let python = python::find().map_err(PythonError::Python)?;
        println!(
            "Using the stack's {} ({})",
            python.version,
            python.path.display()
        );
        venv_layer::contribute(&context, &python)?;
        BuildResultBuilder::new().build()
    }

    fn on_error(&self, error: libcnb::Error<Self::Error>) {
        let message = match error {
            libcnb::Error::BuildpackError(error) => error.to_string(),
            other => format!(
                "Internal error in the jobwrap/python buildpack: {other}\n\nThis is a bug in \
                 jobwrap, not in your project; please report it with the build log."
            ),
        };
        eprintln!("\n[Error] {}", message.trim_end());
    }
}

buildpack_main!(PythonBuildpack);
