//! `jobwrap-runner`: runs a user's `run(data, params)` inside a job container and
//! honours jobwrap's runtime contract: inputs, invocation, limits, result, exit codes.
//!
//! The stages, in order: [`config`] → [`output`] (prepare) → [`inputs`] → [`environment`]
//! → start the shim ([`process`], [`channel`], [`logs`]) → end every job process →
//! decide the outcome → write `output.json`, `status.json`, the signed report
//! ([`attest`], on Kubernetes) and the final stdout line.

pub mod attest;
mod channel;
mod config;
mod environment;
mod errors;
mod inputs;
mod log;
mod logs;
pub mod outcome;
mod output;
mod process;
mod sandbox;
pub mod shim;

use crate::channel::{Frame, Received};
use crate::config::Config;
use crate::errors::RunnerError;
use crate::outcome::{JobError, JobExit, Limit, Outcome};
use crate::output::{OutputDir, RESULT_FILE, STATUS_FILE};
use crate::process::{ChildExit, Reach, Supervision};
use nix::sys::signal::Signal;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

pub use crate::outcome::{JobExit as ExitStatus, Status};

/// The whole runner: reads its environment, runs the job, reports, and returns the
/// contract's exit code.
///
/// Call it first thing in `main`, before any other thread exists: it blocks the signals
/// it handles, and a thread started earlier would still take them (SIGTERM would then
/// end the process without a result).
#[must_use]
pub fn main() -> ExitCode {
    let started = Instant::now();
    let signals = process::handled_signals();
    // Blocked before any thread starts, so every thread inherits the mask and only
    // `sigtimedwait` takes them. The child's mask is reset by `Command`.
    if let Err(error) = signals.thread_block() {
        eprintln!("jobwrap: error: cannot block signals: {error}");
        return ExitCode::from(JobExit::WrapperFailed as u8);
    }

    let lookup = |name: &str| std::env::var_os(name);
    let (outcome, output) = match config::load(lookup) {
        Ok(config) => {
            log::set_level(config.log_level);
            let output = prepare_output(&config);
            let mut protections: Vec<&'static str> = Vec::new();
            protections.extend(sandbox::protect_runner(&config.sandbox).map(sandbox::Layer::name));
            let outcome = run(&config, &signals, &lookup, &mut protections);
            (outcome.with_protections(protections), output)
        }
        Err(error) => {
            let output = prepare_output_at(
                &std::env::var_os("JOBWRAP_OUTPUT_DIR")
                    .map_or_else(|| "/var/runtime/output".into(), std::path::PathBuf::from),
            );
            (RunnerError::Config(error).outcome(), output)
        }
    };
    let attest = attest::Settings::from_env(&lookup);
    report(&outcome, output.as_ref(), &attest, started);
    ExitCode::from(outcome.exit as u8)
}

fn prepare_output(config: &Config) -> Option<OutputDir> {
    prepare_output_at(&config.output_dir)
}

fn prepare_output_at(path: &std::path::Path) -> Option<OutputDir> {
    match OutputDir::prepare(path) {
        Ok(output) => Some(output),
        Err(error) => {
            log::warn(format_args!(
                "cannot use the output folder ({error}); the result goes to stdout only. \
                 Mount a writable folder at JOBWRAP_OUTPUT_DIR to get output.json and status.json"
            ));
            None
        }
    }
}

fn run(
    config: &Config,
    signals: &nix::sys::signal::SigSet,
    lookup: &impl Fn(&str) -> Option<std::ffi::OsString>,
    protections: &mut Vec<&'static str>,
) -> Outcome {
    // `report` logs the error of every failed outcome.
    start_and_supervise(config, signals, lookup, protections)
        .unwrap_or_else(|error| error.outcome())
}

fn start_and_supervise(
    config: &Config,
    signals: &nix::sys::signal::SigSet,
    lookup: &impl Fn(&str) -> Option<std::ffi::OsString>,
    protections: &mut Vec<&'static str>,
) -> Result<Outcome, RunnerError> {
    check_app_dir(&config.app_dir)?;
    let inputs = inputs::InputName::ALL
        .map(|name| inputs::resolve(name, config, lookup))
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(RunnerError::Input)?;
    for input in &inputs {
        log::debug(format_args!(
            "input '{}' from {}",
            input.name.as_str(),
            input.source
        ));
    }

    let private_temp = tempfile::Builder::new()
        // The pid tells the host's `jobwrap clean` that a `run --local` still uses it.
        .prefix(&format!("jobwrap-job-{}-", std::process::id()))
        .tempdir()
        .map_err(RunnerError::PrivateTemp)?;
    let prepared =
        sandbox::prepare(&config.sandbox, &[private_temp.path()]).map_err(RunnerError::Sandbox)?;
    protections.extend(prepared.active.iter().map(|layer| layer.name()));
    let (channel, child_end) = channel::pair().map_err(RunnerError::Channel)?;
    let reach = Reach::detect();
    if reach == Reach::Descendants {
        // Orphaned grandchildren come back to the runner, so none can escape the end.
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes plain integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }

    let mut command = job_command(config, &private_temp, &child_end, &inputs, lookup, prepared);
    let oom_before = process::oom_kills();
    let mut child = command.spawn().map_err(|error| RunnerError::Spawn {
        python: config.python.clone(),
        error,
    })?;
    // Only the child holds its end now: end of file comes once every job process is gone.
    drop(child_end);
    drop(inputs);
    let shim_pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    log::info(format_args!(
        "running {} (timeout {}s)",
        config.entrypoint,
        config.timeout.as_secs_f64()
    ));

    let budget = logs::Budget::new(config.max_log_bytes);
    let stdout_pipe = child.stdout.take();
    let stderr_pipe = child.stderr.take();
    let max_result = config.max_result_bytes;
    let (received, supervision, open_line) = std::thread::scope(|scope| {
        let stdout_budget = &budget;
        let stdout = scope.spawn(move || {
            stdout_pipe
                .is_some_and(|pipe| logs::pass_through(pipe, std::io::stdout(), stdout_budget))
        });
        let stderr = scope.spawn(|| {
            if let Some(pipe) = stderr_pipe {
                logs::pass_through(pipe, std::io::stderr(), &budget);
            }
        });
        let receiver = scope.spawn(|| channel::receive(&channel, shim_pid, max_result));

        let supervision = process::supervise(
            nix::unistd::Pid::from_raw(shim_pid),
            config.timeout,
            config.kill_grace,
            reach,
            signals,
        );
        // Before any result is written: no job process may remain to print or write.
        let remaining = process::end_all(reach);
        if remaining > 0 {
            log::debug(format_args!("ended {remaining} leftover job processes"));
        }
        let open_line = stdout.join().unwrap_or(false);
        let _ = stderr.join();
        (receiver.join().unwrap_or_default(), supervision, open_line)
    });
    // `child` was reaped by the supervisor; forget it without waiting again.
    drop(child);

    if received.foreign_bytes > 0 {
        log::warn(format_args!(
            "ignored {} bytes sent on the result channel by processes other than the job's main process",
            received.foreign_bytes
        ));
    }
    let oom =
        matches!((oom_before, process::oom_kills()), (Some(before), Some(after)) if after > before);
    let mut outcome = decide(&supervision, received, config, oom);
    if budget.dropped() > 0 {
        // Part of the contract, not a diagnostic: printed whatever LOG_LEVEL says.
        eprintln!(
            "jobwrap: dropped {} bytes of log output (limit JOBWRAP_MAX_LOG_BYTES={})",
            budget.dropped(),
            config.max_log_bytes
        );
        outcome = outcome.with_limit(Limit::LogSize);
    }
    let temp_path = private_temp.path().to_owned();
    // `close` removes the tree without following symlinks the job left in it.
    if let Err(error) = private_temp.close() {
        log::warn(format_args!(
            "cannot remove the job's temporary folder {}: {error}",
            temp_path.display()
        ));
    }
    if open_line {
        // The final marker must start a line of its own.
        let _ = std::io::stdout().write_all(b"\n");
    }
    Ok(outcome)
}

/// A missing app folder would otherwise surface as a failure to start Python.
fn check_app_dir(path: &std::path::Path) -> Result<(), RunnerError> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(RunnerError::AppDir {
            path: path.to_owned(),
            error: None,
        }),
        Err(error) => Err(RunnerError::AppDir {
            path: path.to_owned(),
            error: Some(error),
        }),
    }
}

/// The shim's command: cleared environment, private temporary folder, the channel and
/// the inputs as inherited descriptors, its own process group.
fn job_command(
    config: &Config,
    private_temp: &tempfile::TempDir,
    child_end: &std::os::fd::OwnedFd,
    inputs: &[inputs::Input],
    lookup: &impl Fn(&str) -> Option<std::ffi::OsString>,
    mut sandbox: sandbox::Prepared,
) -> Command {
    let layers_dir =
        lookup("CNB_LAYERS_DIR").map_or_else(|| "/layers".into(), std::path::PathBuf::from);
    let mut command = Command::new(&config.python);
    command.env_clear();
    shim::Shim::locate(config.shim_dir.as_deref()).arguments(&mut command);
    command
        .envs(environment::for_job(std::env::vars_os(), &layers_dir))
        .env("TMPDIR", private_temp.path())
        .env("TMP", private_temp.path())
        .env("TEMP", private_temp.path())
        .env("HOME", private_temp.path())
        .env("JOBWRAP_SHIM_CHANNEL_FD", child_end.as_raw_fd().to_string())
        .env("JOBWRAP_SHIM_ENTRYPOINT", config.entrypoint.to_string())
        .env("JOBWRAP_SHIM_APP_DIR", &config.app_dir)
        .env(
            "JOBWRAP_SHIM_MAX_RESULT_BYTES",
            config.max_result_bytes.to_string(),
        )
        .current_dir(&config.app_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut passed_fds = vec![child_end.as_raw_fd()];
    for input in inputs {
        let prefix = format!("JOBWRAP_SHIM_{}", input.name.as_str().to_ascii_uppercase());
        command.env(format!("{prefix}_SOURCE"), &input.source);
        if let Some(file) = &input.file {
            command.env(format!("{prefix}_FD"), file.as_raw_fd().to_string());
            passed_fds.push(file.as_raw_fd());
        }
    }
    // SAFETY: only async-signal-safe calls (sigprocmask, close_range, fcntl, prctl) run
    // between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // The runner blocks the signals it handles; the job starts with none blocked.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut empty);
            libc::pthread_sigmask(libc::SIG_SETMASK, &raw const empty, std::ptr::null_mut());
            // Nothing the runner inherited reaches the job: every descriptor from 3 up
            // closes on exec, except the channel and the inputs.
            libc::syscall(
                libc::SYS_close_range,
                3_u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            for fd in &passed_fds {
                if libc::fcntl(*fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // The job must not outlive a runner that is killed itself.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            // Last: the runner's own wall (rlimits, no_new_privs, Landlock, seccomp).
            sandbox::apply(&mut sandbox)
        });
    }
    command
}

/// Turns what happened into the contract's outcome.
fn decide(supervision: &Supervision, received: Received, config: &Config, oom: bool) -> Outcome {
    if let Some(signal) = supervision.terminated {
        return Outcome::failed(
            JobExit::Killed,
            "terminated",
            format!("the job was stopped from outside ({signal})"),
        );
    }
    if supervision.timed_out {
        return Outcome::failed(
            JobExit::TimedOut,
            "timeout",
            format!(
                "the job did not finish within its timeout of {}s (JOBWRAP_TIMEOUT)",
                config.timeout.as_secs_f64()
            ),
        )
        .with_limit(Limit::Timeout);
    }
    if let Some(length) = received.too_large {
        return result_too_large(length, config.max_result_bytes);
    }
    match received.frame {
        Some(Frame::Result(result)) => Outcome::succeeded(result),
        Some(Frame::ErrorResponse(result)) => Outcome {
            exit: JobExit::Failed,
            error: Some(JobError {
                kind: "error_response".into(),
                message: format!("{} returned an ErrorResponse", config.entrypoint),
                traceback: None,
            }),
            result,
            limits_hit: Vec::new(),
            protections: Vec::new(),
        },
        Some(Frame::Failure(payload)) => failure(&payload),
        None => {
            if let Some(reason) = received.malformed {
                return Outcome::failed(JobExit::WrapperFailed, "wrapper", reason);
            }
            match supervision.exit {
                ChildExit::Signal(Signal::SIGKILL) => {
                    let outcome = Outcome::failed(
                        JobExit::Killed,
                        "killed",
                        if oom {
                            "the job was killed for exceeding its memory limit".to_owned()
                        } else {
                            "the job's process was killed (SIGKILL), usually by the memory limit"
                                .to_owned()
                        },
                    );
                    if oom {
                        outcome.with_limit(Limit::Memory)
                    } else {
                        outcome
                    }
                }
                ChildExit::Signal(signal) => Outcome::failed(
                    JobExit::Failed,
                    "crashed",
                    format!("the job's Python process died from {signal}"),
                ),
                ChildExit::Code(code) => Outcome::failed(
                    JobExit::Failed,
                    "no_result",
                    format!(
                        "the job's Python process exited with code {code} before {} returned; \
                         do not end the process (os._exit, os.kill) inside run()",
                        config.entrypoint
                    ),
                ),
            }
        }
    }
}

fn result_too_large(length: u64, limit: u64) -> Outcome {
    Outcome::failed(
        JobExit::Failed,
        "result_size",
        format!(
            "the result is {length} bytes, more than JOBWRAP_MAX_RESULT_BYTES={limit}; return \
             less data"
        ),
    )
    .with_limit(Limit::ResultSize)
}

/// A failure the shim reported: `{"kind", "message", "traceback"}`.
fn failure(payload: &[u8]) -> Outcome {
    #[derive(serde::Deserialize)]
    struct Reported {
        kind: String,
        message: String,
        traceback: Option<String>,
    }
    let Ok(reported) = serde_json::from_slice::<Reported>(payload) else {
        return Outcome::failed(
            JobExit::WrapperFailed,
            "wrapper",
            "the shim sent an unreadable failure report",
        );
    };
    let exit = match reported.kind.as_str() {
        "input" => JobExit::InvalidInput,
        "entrypoint" | "import" => JobExit::InvalidProject,
        _ => JobExit::Failed,
    };
    let outcome =
        Outcome::failed(exit, &reported.kind, reported.message).with_traceback(reported.traceback);
    if reported.kind == "result_size" {
        outcome.with_limit(Limit::ResultSize)
    } else {
        outcome
    }
}

/// Writes the result files and the signed report, and prints the final line, the last
/// thing on stdout.
fn report(
    outcome: &Outcome,
    output: Option<&OutputDir>,
    attest: &attest::Settings,
    started: Instant,
) {
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let status = outcome.status(duration_ms, outcome.protections.clone());
    if let Some(error) = &status.error {
        log::error(format_args!("{} ({})", error.message, error.kind));
    }
    if let Some(output) = output {
        let status_json = serde_json::to_vec_pretty(&status).unwrap_or_default();
        for (name, contents) in [
            (RESULT_FILE, outcome.result.as_slice()),
            (STATUS_FILE, &status_json),
        ] {
            if let Err(error) = output.write(name, contents) {
                log::error(format_args!("cannot write {name}: {error}"));
            }
        }
    }
    attest::write(attest, &status, &outcome.result);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&outcome.final_line());
    let _ = stdout.flush();
}
