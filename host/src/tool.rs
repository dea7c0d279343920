//! Runs a helper program (python3, cargo, pack, scripts) with its output shown to the
//! user, and turns a failure into an error naming the command.

use crate::errors::HostError;
use std::process::Stdio;

pub(crate) async fn run(
    command: &mut tokio::process::Command,
    tool: &'static str,
) -> Result<(), HostError> {
    let shown = format!("{:?}", command.as_std());
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|error| HostError::Tool { tool, error })?;
    if status.success() {
        Ok(())
    } else {
        Err(HostError::ToolFailed {
            command: shown,
            status: status.to_string(),
        })
    }
}
