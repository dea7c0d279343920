//! `jobwrap-runner`, shipped inside the buildpack and copied into the launch layer.

fn main() -> std::process::ExitCode {
    jobwrap_wrapper::main()
}
