//! `jobwrap run --local`: the same staging and the same runner as in an image, with this
//! machine's Python and the project's requirements in a virtual environment cached by
//! the requirements' hash. Output and exit codes match the container path; the
//! container's walls (network, file system, limits) do not apply.

use crate::cli::JobArgs;
use crate::container::Finished;
use crate::errors::HostError;
use crate::interrupt::Interrupt;
use crate::{collect, stage};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

pub(crate) async fn run(
    project: &Path,
    job: &JobArgs,
    interrupt: &Interrupt,
) -> Result<Finished, HostError> {
    let staged = stage::stage(project).map_err(HostError::Stage)?;
    let settings =
        job_template_buildpack::config::read(staged.path(), None).map_err(HostError::Settings)?;
    let limits = crate::limits(job, Some(&settings));
    let python = virtual_environment(staged.path()).await?;

    let workspace = tempfile::Builder::new()
        .prefix(&crate::teardown::temp_prefix("run"))
        .tempdir()
        .map_err(|error| HostError::Init {
            path: std::env::temp_dir(),
            error,
        })?;
    let input = workspace.path().join("input");
    let output = workspace.path().join("output");
    for (name, source) in [("data", &job.data), ("params", &job.params)] {
        if let Some(source) = source {
            let dir = input.join(name);
            fs_err::create_dir_all(&dir).map_err(|error| HostError::Init {
                path: dir.clone(),
                error,
            })?;
            fs_err::copy(source, dir.join(format!("{name}.json"))).map_err(|error| {
                HostError::Run(crate::container::RunError::Input {
                    path: source.clone(),
                    error,
                })
            })?;
        }
    }

    let myself = std::env::current_exe().map_err(|error| HostError::Tool {
        tool: "jobwrap",
        error,
    })?;
    let mut child = tokio::process::Command::new(myself)
        .arg("__runner")
        .env_clear()
        .envs(std::env::var_os("PATH").map(|path| ("PATH", path)))
        .envs(std::env::var_os("LANG").map(|lang| ("LANG", lang)))
        .env("JOBWRAP_APP_DIR", staged.path())
        .env("JOBWRAP_INPUT_DIR", &input)
        .env("JOBWRAP_OUTPUT_DIR", &output)
        .env("JOBWRAP_PYTHON", &python)
        .env("JOBWRAP_ENTRYPOINT", &settings.entrypoint)
        .env("JOBWRAP_TIMEOUT", limits.timeout.as_secs_f64().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| HostError::Tool {
            tool: "jobwrap __runner",
            error,
        })?;
    // As with a container: the job's output (and the final marker) goes to stderr.
    let mut stdout = child.stdout.take();
    let relay = tokio::spawn(async move {
        if let Some(stdout) = stdout.as_mut() {
            let _ = tokio::io::copy(stdout, &mut tokio::io::stderr()).await;
        }
        let _ = tokio::io::stderr().flush().await;
    });
    let status = tokio::select! {
        status = child.wait() => status.map_err(|error| HostError::Tool { tool: "jobwrap __runner", error })?,
        signal = interrupt.wait() => {
            // The runner stops the job on SIGTERM and reports; wait for it.
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            }
            let _ = child.wait().await;
            let _ = relay.await;
            return Err(HostError::Run(crate::container::RunError::Interrupted(signal)));
        }
    };
    let _ = relay.await;
    let read = |name, limit| {
        collect::read_json(&output, name, limit)
            .map_err(|error| HostError::Run(crate::container::RunError::Collect(error)))
    };
    Ok(Finished {
        exit_code: status
            .code()
            .and_then(|code| u8::try_from(code).ok())
            .unwrap_or(125),
        status: read("status.json", 1024 * 1024)?,
        result: read("output.json", collect::MAX_RESULT_BYTES)?,
        oom_killed: false,
        timed_out_on_host: false,
    })
}

/// A virtual environment with the project's requirements, reused while they are the same.
async fn virtual_environment(staged: &Path) -> Result<PathBuf, HostError> {
    let requirements = fs_err::read(staged.join("requirements.txt")).unwrap_or_default();
    let key = format!("{:x}", Sha256::digest(&requirements));
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("jobwrap/venvs");
    let venv = cache.join(&key[..16]);
    let python = venv.join("bin/python");
    if python.is_file() {
        return Ok(python);
    }
    eprintln!(
        "jobwrap: creating a virtual environment for these requirements in {}",
        venv.display()
    );
    // A folder of this process's own: runs in parallel may build the same environment.
    let partial = cache.join(format!(
        "{}.partial-{}",
        &key[..16],
        crate::teardown::unique_id()
    ));
    fs_err::create_dir_all(&cache).map_err(|error| HostError::Init {
        path: cache.clone(),
        error,
    })?;
    crate::tool::run(
        tokio::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&partial),
        "python3",
    )
    .await?;
    if requirements.iter().any(|byte| !byte.is_ascii_whitespace()) {
        crate::tool::run(
            tokio::process::Command::new(partial.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--requirement",
                ])
                .arg(staged.join("requirements.txt")),
            "pip",
        )
        .await?;
    }
    // Renamed into place only when complete, so an interrupted install is never reused;
    // when another run got there first, its environment is used and ours dropped.
    if let Err(error) = fs_err::rename(&partial, &venv) {
        let _ = fs_err::remove_dir_all(&partial);
        if !python.is_file() {
            return Err(HostError::Init {
                path: venv.clone(),
                error,
            });
        }
    }
    Ok(python)
}
