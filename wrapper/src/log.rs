//! The runner's own log lines: stderr, prefixed `jobwrap:`, filtered by `LOG_LEVEL`.

use crate::config::LogLevel;
use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);

pub(crate) fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub(crate) fn at(level: LogLevel, message: impl std::fmt::Display) {
    if level as u8 >= LEVEL.load(Ordering::Relaxed) {
        let label = match level {
            LogLevel::Debug => "debug: ",
            LogLevel::Info => "",
            LogLevel::Warning => "warning: ",
            LogLevel::Error => "error: ",
        };
        eprintln!("jobwrap: {label}{message}");
    }
}

pub(crate) fn debug(message: impl std::fmt::Display) {
    at(LogLevel::Debug, message);
}

pub(crate) fn info(message: impl std::fmt::Display) {
    at(LogLevel::Info, message);
}

pub(crate) fn warn(message: impl std::fmt::Display) {
    at(LogLevel::Warning, message);
}

pub(crate) fn error(message: impl std::fmt::Display) {
    at(LogLevel::Error, message);
}
