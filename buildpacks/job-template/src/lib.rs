//! What other crates share with the `jobwrap/job-template` buildpack: its build plan (the
//! builder structure tests check it) and how a project's settings are read (the host CLI
//! reads limits the same way).

pub mod config;

/// Any of these files makes a folder a job project (the contract's detection rule).
pub const MARKERS: [&str; 3] = ["planqk.json", "jobwrap.toml", "src/program.py"];

/// The build plan of `jobwrap/job-template`.
pub mod plan {
    /// What a project with a dependency file requires (its first alternative).
    pub const REQUIRES_WITH_DEPENDENCIES: &[&str] = &["cpython", "site-packages"];
    /// What a project without one requires (the `or` alternative).
    pub const REQUIRES_WITHOUT_DEPENDENCIES: &[&str] = &["cpython"];
}
