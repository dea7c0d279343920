//! `jobwrap-runner`: the in-container job runner (see the `jobwrap_wrapper` library).

fn main() -> std::process::ExitCode {
    jobwrap_wrapper::main()
}
