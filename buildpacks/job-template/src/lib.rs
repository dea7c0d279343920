//! Facts about the `jobwrap/job-template` buildpack that other crates check against
//! (the builder structure tests).

/// The build plan of `jobwrap/job-template`.
pub mod plan {
    /// What a project with a dependency file requires (its first alternative).
    pub const REQUIRES_WITH_DEPENDENCIES: &[&str] = &["cpython", "site-packages"];
    /// What a project without one requires (the `or` alternative).
    pub const REQUIRES_WITHOUT_DEPENDENCIES: &[&str] = &["cpython"];
}
