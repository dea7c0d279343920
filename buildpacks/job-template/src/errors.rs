//! Every failure a user can cause, with what went wrong and how to fix it.

use crate::app_permissions::AppPermissionsError;
use crate::entrypoint::EntrypointError;
use crate::runner_layer::RunnerLayerError;
use indoc::formatdoc;
use job_template_buildpack::config::ConfigError;

#[derive(Debug)]
pub(crate) enum JobTemplateError {
    Config(ConfigError),
    Entrypoint(EntrypointError),
    RunnerLayer(RunnerLayerError),
    AppPermissions(AppPermissionsError),
}

impl From<JobTemplateError> for libcnb::Error<JobTemplateError> {
    fn from(error: JobTemplateError) -> Self {
        Self::BuildpackError(error)
    }
}

impl std::fmt::Display for JobTemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = match self {
            JobTemplateError::Config(error) => config_message(error),
            JobTemplateError::Entrypoint(error) => entrypoint_message(error),
            JobTemplateError::AppPermissions(AppPermissionsError::Io { path, error }) => {
                formatdoc! {"
                The permissions of {path} could not be restricted: {error}

                The app folder must belong to the build user; build again with a fresh app
                folder (pack copies the project into one).
            ", path = path.display()}
            }
            JobTemplateError::RunnerLayer(error) => match error {
                RunnerLayerError::ReadBinary(error) => formatdoc! {"
                    The buildpack's runner binary cannot be read: {error}

                    The packaged buildpack is incomplete. Package it again with
                    `cargo libcnb package` and recreate the builder.
                "},
                RunnerLayerError::Install(error) => formatdoc! {"
                    The runner could not be installed into its layer: {error}

                    This is a problem with the build environment (disk full or a read-only
                    layers directory); retry the build.
                "},
            },
        };
        f.write_str(&message)
    }
}

/// The settings' own message (shared with the host CLI), set apart like the others.
fn config_message(error: &ConfigError) -> String {
    format!("The project's settings are invalid: {error}.\n")
}

fn entrypoint_message(error: &EntrypointError) -> String {
    match error {
        EntrypointError::ModuleMissing {
            entrypoint,
            looked_for,
        } => formatdoc! {"
            The entry point `{entrypoint}` has no module: none of {files} exists.

            Add the file, or point the entry point at your module with `[job] entrypoint`
            in jobwrap.toml or the build variable BP_JOBWRAP_ENTRYPOINT.
        ", files = looked_for.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")},
        EntrypointError::Syntax {
            file,
            line,
            column,
            text,
            message,
        } => {
            let at = match (line, column) {
                (Some(line), Some(column)) => format!("{}:{line}:{column}", file.display()),
                (Some(line), None) => format!("{}:{line}", file.display()),
                _ => file.display().to_string(),
            };
            formatdoc! {"
                {at}: syntax error: {message}

                    {text}

                Fix the syntax error in {file} and build again.
            ", file = file.display()}
        }
        EntrypointError::FunctionMissing {
            entrypoint,
            file,
            function,
        } => formatdoc! {"
            The entry point `{entrypoint}` names the function `{function}`, which {file} does
            not define at its top level.

            Define `def {function}(data, params):` in {file}, or set another entry point with
            `[job] entrypoint` in jobwrap.toml or BP_JOBWRAP_ENTRYPOINT.
        ", file = file.display()},
        EntrypointError::Signature {
            file,
            line,
            function,
            signature,
        } => formatdoc! {"
            {file}:{line}: `{function}({signature})` cannot be called the way jobwrap calls it.

            jobwrap calls `{function}(data=..., params=...)` when the function takes those
            keywords or `**kwargs`, and `{function}(data, params)` otherwise. Change it to
            `def {function}(data, params):`.
        ", file = file.display()},
        EntrypointError::PythonMissing(error) => formatdoc! {"
            python3 could not be started to check the entry point: {error}

            jobwrap/job-template needs a Python buildpack before it in the builder's group
            (paketo-buildpacks/cpython or jobwrap/python). Use jobwrap/builder or
            jobwrap/builder-offline, which have one.
        "},
        EntrypointError::CheckerFailed(output) => formatdoc! {"
            The entry point check failed unexpectedly: {output}

            This is a bug in jobwrap; please report it with the build log.
        "},
    }
}
