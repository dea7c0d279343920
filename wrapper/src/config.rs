//! The runner's settings, read once from the environment.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// Everything the runner reads from its environment.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) entrypoint: Entrypoint,
    pub(crate) app_dir: PathBuf,
    pub(crate) input_dir: PathBuf,
    pub(crate) output_dir: PathBuf,
    pub(crate) python: OsString,
    /// Where the shim was installed with its bytecode (`JOBWRAP_SHIM_DIR`).
    pub(crate) shim_dir: Option<PathBuf>,
    /// `BASE64_ENCODED`: `None` when unset (files raw, variables base64).
    pub base64_encoded: Option<bool>,
    pub(crate) max_input_bytes: u64,
    pub(crate) max_result_bytes: u64,
    pub(crate) max_log_bytes: u64,
    pub(crate) timeout: Duration,
    pub(crate) kill_grace: Duration,
    pub(crate) log_level: LogLevel,
    pub(crate) sandbox: crate::sandbox::Settings,
}

/// `package.module:function`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entrypoint {
    pub(crate) module: String,
    pub(crate) function: String,
}

impl std::fmt::Display for Entrypoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.module, self.function)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

#[derive(Debug)]
pub(crate) enum ConfigError {
    Invalid {
        variable: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Invalid {
                variable,
                value,
                expected,
            } => write!(
                f,
                "{variable}={value:?} is not valid: expected {expected}; fix or unset the variable"
            ),
        }
    }
}

/// Reads the configuration through `lookup` (the process environment in production).
#[allow(
    clippy::too_many_lines,
    reason = "every setting of the runner in one flat list reads best"
)]
pub(crate) fn load(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Config, ConfigError> {
    let text = |name: &'static str| -> Result<Option<String>, ConfigError> {
        lookup(name)
            .map(|value| {
                value.into_string().map_err(|value| ConfigError::Invalid {
                    variable: name,
                    value: value.to_string_lossy().into_owned(),
                    expected: "UTF-8 text",
                })
            })
            .transpose()
    };
    let bytes = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
        text(name)?.map_or(Ok(default), |value| {
            value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|bytes| *bytes > 0)
                .ok_or(ConfigError::Invalid {
                    variable: name,
                    value,
                    expected: "a positive whole number of bytes",
                })
        })
    };
    let seconds = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
        text(name)?.map_or(Ok(Duration::from_secs(default)), |value| {
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0 && *seconds < 1e9)
                .map(Duration::from_secs_f64)
                .ok_or(ConfigError::Invalid {
                    variable: name,
                    value,
                    expected: "a number of seconds",
                })
        })
    };

    let flag = |name: &'static str| -> Result<bool, ConfigError> {
        text(name)?.map_or(Ok(false), |value| {
            parse_flag(&value).ok_or(ConfigError::Invalid {
                variable: name,
                value,
                expected: "`1`/`true` or `0`/`false`",
            })
        })
    };
    let entrypoint = match text("JOBWRAP_ENTRYPOINT")? {
        None => Entrypoint {
            module: "src.program".into(),
            function: "run".into(),
        },
        Some(value) => parse_entrypoint(&value).ok_or(ConfigError::Invalid {
            variable: "JOBWRAP_ENTRYPOINT",
            value,
            expected: "`package.module:function`, e.g. `src.program:run`",
        })?,
    };
    let base64_encoded = text("BASE64_ENCODED")?
        .map(|value| {
            parse_flag(&value).ok_or(ConfigError::Invalid {
                variable: "BASE64_ENCODED",
                value,
                expected: "`true` or `false`",
            })
        })
        .transpose()?;
    let log_level = text("LOG_LEVEL")?
        .map(|value| {
            parse_log_level(&value).ok_or(ConfigError::Invalid {
                variable: "LOG_LEVEL",
                value,
                expected: "one of DEBUG, INFO, WARNING, ERROR",
            })
        })
        .transpose()?
        .unwrap_or(LogLevel::Info);
    let app_dir = lookup("JOBWRAP_APP_DIR")
        .or_else(|| lookup("CNB_APP_DIR"))
        .map_or_else(
            || std::env::current_dir().unwrap_or_default(),
            PathBuf::from,
        );

    Ok(Config {
        entrypoint,
        app_dir,
        input_dir: lookup("JOBWRAP_INPUT_DIR").map_or_else(|| "/var/input".into(), PathBuf::from),
        output_dir: lookup("JOBWRAP_OUTPUT_DIR")
            .map_or_else(|| "/var/runtime/output".into(), PathBuf::from),
        python: lookup("JOBWRAP_PYTHON").unwrap_or_else(|| "python3".into()),
        shim_dir: lookup("JOBWRAP_SHIM_DIR").map(PathBuf::from),
        base64_encoded,
        max_input_bytes: bytes("JOBWRAP_MAX_INPUT_BYTES", 256 * MIB)?,
        max_result_bytes: bytes("JOBWRAP_MAX_RESULT_BYTES", 64 * MIB)?,
        max_log_bytes: bytes("JOBWRAP_MAX_LOG_BYTES", 64 * MIB)?,
        timeout: seconds("JOBWRAP_TIMEOUT", 3600)?,
        kill_grace: seconds("JOBWRAP_KILL_GRACE", 10)?,
        log_level,
        sandbox: crate::sandbox::Settings {
            strict: flag("JOBWRAP_STRICT")?,
            allow_network: flag("JOBWRAP_ALLOW_NETWORK")?,
            disabled: text("JOBWRAP_SANDBOX_DISABLE")?
                .map(|list| {
                    list.split(',')
                        .map(|name| name.trim().to_owned())
                        .filter(|n| !n.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            max_file_bytes: bytes("JOBWRAP_MAX_FILE_BYTES", 1024 * MIB)?,
        },
    })
}

fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn parse_log_level(value: &str) -> Option<LogLevel> {
    match value.trim().to_ascii_uppercase().as_str() {
        "DEBUG" | "TRACE" => Some(LogLevel::Debug),
        "INFO" | "" => Some(LogLevel::Info),
        "WARN" | "WARNING" => Some(LogLevel::Warning),
        "ERROR" | "CRITICAL" => Some(LogLevel::Error),
        _ => None,
    }
}

fn parse_entrypoint(value: &str) -> Option<Entrypoint> {
    let (module, function) = value.trim().split_once(':')?;
    let identifier = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    (module.split('.').all(identifier) && identifier(function)).then(|| Entrypoint {
        module: module.to_owned(),
        function: function.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        load(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = load_from(&[]).expect("defaults load");
        assert_eq!(config.entrypoint.to_string(), "src.program:run");
        assert_eq!(config.output_dir, PathBuf::from("/var/runtime/output"));
        assert_eq!(config.input_dir, PathBuf::from("/var/input"));
        assert_eq!(config.max_input_bytes, 256 * MIB);
        assert_eq!(config.max_result_bytes, 64 * MIB);
        assert_eq!(config.max_log_bytes, 64 * MIB);
        assert_eq!(config.timeout, Duration::from_hours(1));
        assert_eq!(config.kill_grace, Duration::from_secs(10));
        assert_eq!(config.base64_encoded, None);
        assert_eq!(config.log_level, LogLevel::Info);
    }

    #[test]
    fn reads_every_setting() {
        let config = load_from(&[
            ("JOBWRAP_ENTRYPOINT", "app.main:handler"),
            ("BASE64_ENCODED", "false"),
            ("JOBWRAP_TIMEOUT", "1.5"),
            ("JOBWRAP_MAX_LOG_BYTES", "100"),
            ("LOG_LEVEL", "debug"),
            ("JOBWRAP_APP_DIR", "/app"),
        ])
        .expect("valid config");
        assert_eq!(config.entrypoint.module, "app.main");
        assert_eq!(config.entrypoint.function, "handler");
        assert_eq!(config.base64_encoded, Some(false));
        assert_eq!(config.timeout, Duration::from_millis(1500));
        assert_eq!(config.max_log_bytes, 100);
        assert_eq!(config.log_level, LogLevel::Debug);
        assert_eq!(config.app_dir, PathBuf::from("/app"));
    }

    #[test]
    fn rejects_malformed_values_naming_the_variable() {
        for (name, value) in [
            ("JOBWRAP_ENTRYPOINT", "src/program.py"),
            ("JOBWRAP_ENTRYPOINT", "src.program:"),
            ("JOBWRAP_ENTRYPOINT", "src..program:run"),
            ("BASE64_ENCODED", "maybe"),
            ("JOBWRAP_TIMEOUT", "-1"),
            ("JOBWRAP_TIMEOUT", "soon"),
            ("JOBWRAP_MAX_INPUT_BYTES", "0"),
            ("JOBWRAP_MAX_RESULT_BYTES", "64MiB"),
            ("LOG_LEVEL", "loud"),
        ] {
            let error = load_from(&[(name, value)]).expect_err(value).to_string();
            assert!(error.starts_with(name), "{error}");
            assert!(error.contains("expected"), "{error}");
        }
    }
}
