//! The in-container job runner.
