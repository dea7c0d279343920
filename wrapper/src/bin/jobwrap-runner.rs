//! `jobwrap-runner`: the in-container job runner (see the `jobwrap_wrapper` library).
//!
//! `jobwrap-runner --install-shim DIR` prepares an image instead: it installs the Python
//! shim with its bytecode into DIR, for `JOBWRAP_SHIM_DIR=DIR` at run time.

use std::process::ExitCode;

fn main() -> ExitCode {
    let arguments: Vec<_> = std::env::args_os().skip(1).collect();
    match arguments.as_slice() {
        [flag, dir] if flag == "--install-shim" => install_shim(dir.as_ref()),
        _ => jobwrap_wrapper::main(),
    }
}

fn install_shim(dir: &std::path::Path) -> ExitCode {
    let python = std::env::var_os("JOBWRAP_PYTHON").unwrap_or_else(|| "python3".into());
    let path = std::env::var_os("PATH");
    match jobwrap_wrapper::shim::install(dir, &python, path.as_deref()) {
        Ok(()) => {
            println!(
                "Installed the shim into {}; run jobs with JOBWRAP_SHIM_DIR={0}",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("jobwrap-runner: error: {error}");
            ExitCode::from(3)
        }
    }
}
