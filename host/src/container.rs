//! Runs a job image through the Docker Engine API with the hardened settings: inputs
//! mounted read-only, a fresh output folder, logs streamed, the outcome collected.

use crate::collect::{self, CollectError};
use crate::interrupt::Interrupt;
use crate::settings::{self, Limits};
use crate::teardown::{Cleanup, RUN_LABEL};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder,
    LogsOptionsBuilder, StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The runner's grace between SIGTERM and SIGKILL, plus time to report.
const HOST_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) enum RunError {
    Input {
        path: PathBuf,
        error: std::io::Error,
    },
    Workspace(std::io::Error),
    Image {
        image: String,
        error: bollard::errors::Error,
    },
    RootImage(String),
    Docker(bollard::errors::Error),
    SettingsDropped(Vec<&'static str>),
    Collect(CollectError),
    Interrupted(i32),
}

/// The job's inputs as given on the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inputs {
    pub(crate) data: Option<PathBuf>,
    pub(crate) params: Option<PathBuf>,
}

impl Inputs {
    /// Each input given is a regular file (links followed).
    pub(crate) fn check(&self) -> Result<(), RunError> {
        for path in [&self.data, &self.params].into_iter().flatten() {
            check_input(path)?;
        }
        Ok(())
    }
}

fn check_input(path: &Path) -> Result<(), RunError> {
    let input_error = |error| RunError::Input {
        path: path.to_owned(),
        error,
    };
    let metadata = fs_err::metadata(path).map_err(input_error)?;
    if !metadata.is_file() {
        return Err(input_error(std::io::Error::other("not a regular file")));
    }
    Ok(())
}

/// What the job did.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) exit_code: u8,
    pub(crate) status: Option<Value>,
    pub(crate) result: Option<Value>,
    pub(crate) oom_killed: bool,
    pub(crate) timed_out_on_host: bool,
}

/// Job images run as their own non-root user; refuses an image that would run as root.
pub(crate) async fn check_image(docker: &Docker, image: &str) -> Result<(), RunError> {
    let inspected = docker
        .inspect_image(image)
        .await
        .map_err(|error| RunError::Image {
            image: image.to_owned(),
            error,
        })?;
    let user = inspected
        .config
        .and_then(|config| config.user)
        .unwrap_or_default();
    if user.is_empty()
        || user == "root"
        || user == "0"
        || user.starts_with("0:")
        || user.starts_with("root:")
    {
        return Err(RunError::RootImage(image.to_owned()));
    }
    Ok(())
}

pub(crate) async fn run(
    docker: &Docker,
    image: &str,
    inputs: &Inputs,
    limits: &Limits,
    run_id: &str,
    cleanup: &Cleanup,
    interrupt: &Interrupt,
) -> Result<Finished, RunError> {
    check_image(docker, image).await?;
    let workspace = tempfile::Builder::new()
        .prefix(&crate::teardown::temp_prefix("run"))
        .tempdir()
        .map_err(RunError::Workspace)?;
    let data = stage_input(workspace.path(), "data", inputs.data.as_deref())?;
    let params = stage_input(workspace.path(), "params", inputs.params.as_deref())?;
    let output = workspace.path().join("output");
    fs_err::create_dir(&output).map_err(RunError::Workspace)?;
    // Our own fresh folder: the image's non-root user must be able to write to it.
    fs_err::set_permissions(&output, std::fs::Permissions::from_mode(0o777))
        .map_err(RunError::Workspace)?;
    fs_err::set_permissions(workspace.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(RunError::Workspace)?;

    let host_config = settings::host_config(limits, data.as_deref(), params.as_deref(), &output);
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        env: Some(vec![format!(
            "JOBWRAP_TIMEOUT={}",
            limits.timeout.as_secs_f64()
        )]),
        labels: Some(HashMap::from([(RUN_LABEL.to_owned(), run_id.to_owned())])),
        network_disabled: Some(true),
        host_config: Some(host_config.clone()),
        ..ContainerCreateBody::default()
    };
    let name = format!("jobwrap-{run_id}");
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
        .map_err(RunError::Docker)?;
    cleanup.container(&created.id);

    let applied = docker
        .inspect_container(&created.id, None::<InspectContainerOptions>)
        .await
        .map_err(RunError::Docker)?;
    let dropped =
        settings::dropped_settings(&host_config, &applied.host_config.unwrap_or_default());
    if !dropped.is_empty() {
        return Err(RunError::SettingsDropped(dropped));
    }

    let mut wait = Box::pin(docker.wait_container(&created.id, None::<WaitContainerOptions>));
    docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
        .map_err(RunError::Docker)?;
    let logs = tokio::spawn(stream_logs(docker.clone(), created.id.clone()));

    let deadline = limits.timeout + HOST_GRACE;
    let timed_out_on_host = tokio::select! {
        finished = tokio::time::timeout(deadline, wait.next()) => finished.is_err(),
        signal = interrupt.wait() => {
            // The container is removed by the cleanup; stop it now.
            let kill = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
            let _ = docker.kill_container(&created.id, Some(kill)).await;
            return Err(RunError::Interrupted(signal));
        }
    };
    if timed_out_on_host {
        let kill = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        let _ = docker.kill_container(&created.id, Some(kill)).await;
    }
    let _ = logs.await;

    let state = docker
        .inspect_container(&created.id, None::<InspectContainerOptions>)
        .await
        .map_err(RunError::Docker)?
        .state
        .unwrap_or_default();
    let status =
        collect::read_json(&output, "status.json", 1024 * 1024).map_err(RunError::Collect)?;
    let result = collect::read_json(&output, "output.json", collect::MAX_RESULT_BYTES)
        .map_err(RunError::Collect)?;
    let container_code = u8::try_from(state.exit_code.unwrap_or(125)).unwrap_or(125);
    let exit_code = if timed_out_on_host {
        124
    } else {
        status
            .as_ref()
            .and_then(|status| status["exit_code"].as_u64())
            .and_then(|code| u8::try_from(code).ok())
            .unwrap_or(container_code)
    };
    Ok(Finished {
        exit_code,
        status,
        result,
        oom_killed: state.oom_killed.unwrap_or(false),
        timed_out_on_host,
    })
}

/// Copies an input file into the run's own folder, readable by the image's user.
fn stage_input(
    workspace: &Path,
    name: &str,
    source: Option<&Path>,
) -> Result<Option<PathBuf>, RunError> {
    let Some(source) = source else {
        return Ok(None);
    };
    check_input(source)?;
    let input_error = |error| RunError::Input {
        path: source.to_owned(),
        error,
    };
    let dir = workspace.join(name);
    fs_err::create_dir(&dir).map_err(RunError::Workspace)?;
    let target = dir.join(format!("{name}.json"));
    fs_err::copy(source, &target).map_err(input_error)?;
    fs_err::set_permissions(&target, std::fs::Permissions::from_mode(0o644))
        .map_err(RunError::Workspace)?;
    fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(RunError::Workspace)?;
    Ok(Some(dir))
}

/// The job's stdout and stderr, live, on our stderr (stdout is for the result).
async fn stream_logs(docker: Docker, id: String) {
    let options = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut logs = docker.logs(&id, Some(options));
    while let Some(Ok(chunk)) = logs.next().await {
        let bytes = match chunk {
            LogOutput::StdOut { message }
            | LogOutput::StdErr { message }
            | LogOutput::Console { message } => message,
            LogOutput::StdIn { .. } => continue,
        };
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(&bytes);
        let _ = stderr.flush();
    }
}
