//! The project's settings: `planqk.json`, `jobwrap.toml` `[job]`, `BP_JOBWRAP_ENTRYPOINT`.
//! Shared by the buildpack and the host CLI, so both read a project the same way.
//!
//! Precedence for the entry point: `BP_JOBWRAP_ENTRYPOINT` > `jobwrap.toml` > the default.
//! For limits: `jobwrap.toml` > `planqk.json`. Unknown keys are warnings, wrong types errors.

use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// The entry point when the project names none.
pub const DEFAULT_ENTRYPOINT: &str = "src.program:run";
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The project's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub entrypoint: String,
    pub timeout_seconds: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub cpus: Option<f64>,
    pub warnings: Vec<String>,
}

/// Why the project's settings cannot be read. Paths are relative to the project, as the
/// user knows it (not the build's or the host's staging folder).
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Syntax {
        path: PathBuf,
        message: String,
    },
    WrongType {
        path: PathBuf,
        key: String,
        expected: &'static str,
    },
    InvalidEntrypoint {
        source: String,
        value: String,
    },
}

/// What is wrong and how to fix it, for the build log and the host CLI alike.
impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Read { path, error } => write!(
                f,
                "{} cannot be read ({error}); make the file readable, or remove it",
                path.display()
            ),
            ConfigError::Syntax { path, message } => write!(
                f,
                "{} is not valid: {message}; fix its syntax (planqk.json is JSON, jobwrap.toml \
                 is TOML)",
                path.display()
            ),
            ConfigError::WrongType {
                path,
                key,
                expected,
            } => write!(
                f,
                "{path}: `{key}` has the wrong type, expected {expected}; change the value of \
                 `{key}` in {path}",
                path = path.display()
            ),
            ConfigError::InvalidEntrypoint { source, value } => write!(
                f,
                "the entry point {value:?} from {source} is not of the form \
                 `package.module:function`; use dotted module names and the function after a \
                 colon, e.g. `{DEFAULT_ENTRYPOINT}` for the function `run` in `src/program.py`"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads the settings of the project in `app_dir`; `entrypoint_override` is the value of
/// `BP_JOBWRAP_ENTRYPOINT` when set.
///
/// # Errors
/// When a file cannot be read or parsed, or a value has the wrong type.
pub fn read(app_dir: &Path, entrypoint_override: Option<&str>) -> Result<Settings, ConfigError> {
    let mut settings = Settings {
        entrypoint: DEFAULT_ENTRYPOINT.to_owned(),
        timeout_seconds: None,
        memory_bytes: None,
        cpus: None,
        warnings: Vec::new(),
    };
    read_planqk_json(app_dir, &mut settings)?;
    read_jobwrap_toml(app_dir, &mut settings)?;
    if let Some(value) = entrypoint_override {
        settings.entrypoint =
            checked_entrypoint("the build variable BP_JOBWRAP_ENTRYPOINT", value)?;
    }
    Ok(settings)
}

/// The file `name` of the project, if it exists.
fn read_file(app_dir: &Path, name: &Path) -> Result<Option<String>, ConfigError> {
    match fs_err::read_to_string(app_dir.join(name)) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ConfigError::Read {
            path: name.to_owned(),
            error,
        }),
    }
}

fn read_planqk_json(app_dir: &Path, settings: &mut Settings) -> Result<(), ConfigError> {
    let path = Path::new("planqk.json");
    let Some(text) = read_file(app_dir, path)? else {
        return Ok(());
    };
    let document: Json = serde_json::from_str(&text).map_err(|error| ConfigError::Syntax {
        path: path.to_owned(),
        message: error.to_string(),
    })?;
    let wrong = |key: &str, expected| ConfigError::WrongType {
        path: path.to_owned(),
        key: key.to_owned(),
        expected,
    };
    let Json::Object(fields) = document else {
        return Err(wrong("(top level)", "a JSON object"));
    };
    for (key, value) in &fields {
        match (key.as_str(), value) {
            ("name" | "description" | "runtime", Json::String(_)) => {}
            ("name" | "description" | "runtime", _) => return Err(wrong(key, "a string")),
            ("resources", Json::Object(resources)) => {
                for (name, value) in resources {
                    match (name.as_str(), value.as_f64()) {
                        ("cpu", Some(cpus)) if cpus > 0.0 => settings.cpus = Some(cpus),
                        ("memory", Some(gib)) if gib > 0.0 => {
                            settings.memory_bytes = Some(gib_to_bytes(gib));
                        }
                        ("cpu" | "memory", _) => {
                            return Err(wrong(&format!("resources.{name}"), "a positive number"));
                        }
                        _ => settings.warnings.push(format!(
                            "{}: unknown key resources.{name} is ignored",
                            path.display()
                        )),
                    }
                }
            }
            ("resources", _) => return Err(wrong(key, "an object with cpu and memory")),
            _ => settings
                .warnings
                .push(format!("{}: unknown key {key} is ignored", path.display())),
        }
    }
    Ok(())
}

fn read_jobwrap_toml(app_dir: &Path, settings: &mut Settings) -> Result<(), ConfigError> {
    let path = Path::new("jobwrap.toml");
    let Some(text) = read_file(app_dir, path)? else {
        return Ok(());
    };
    let document: toml::Table =
        text.parse()
            .map_err(|error: toml::de::Error| ConfigError::Syntax {
                path: path.to_owned(),
                message: error.to_string(),
            })?;
    let wrong = |key: &str, expected| ConfigError::WrongType {
        path: path.to_owned(),
        key: key.to_owned(),
        expected,
    };
    for (section, value) in &document {
        if section != "job" {
            settings.warnings.push(format!(
                "{}: unknown section [{section}] is ignored",
                path.display()
            ));
            continue;
        }
        let toml::Value::Table(job) = value else {
            return Err(wrong("job", "a table"));
        };
        for (key, value) in job {
            let name = format!("job.{key}");
            match key.as_str() {
                "entrypoint" => {
                    let text = value
                        .as_str()
                        .ok_or_else(|| wrong(&name, "a string like \"src.program:run\""))?;
                    settings.entrypoint =
                        checked_entrypoint(&format!("{} [job] entrypoint", path.display()), text)?;
                }
                "timeout" => {
                    let seconds = number(value)
                        .filter(|s| *s > 0.0)
                        .ok_or_else(|| wrong(&name, "a positive number of seconds"))?;
                    settings.timeout_seconds = Some(seconds);
                }
                "cpus" => {
                    let cpus = number(value)
                        .filter(|c| *c > 0.0)
                        .ok_or_else(|| wrong(&name, "a positive number"))?;
                    settings.cpus = Some(cpus);
                }
                "memory" => {
                    let bytes = match value {
                        toml::Value::String(size) => parse_size(size),
                        other => number(other).filter(|gib| *gib > 0.0).map(gib_to_bytes),
                    }
                    .ok_or_else(|| {
                        wrong(
                            &name,
                            "a size like \"2GiB\" or \"512MiB\", or a number of GiB",
                        )
                    })?;
                    settings.memory_bytes = Some(bytes);
                }
                _ => settings.warnings.push(format!(
                    "{}: unknown key [job] {key} is ignored",
                    path.display()
                )),
            }
        }
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn number(value: &toml::Value) -> Option<f64> {
    match value {
        toml::Value::Integer(integer) => Some(*integer as f64),
        toml::Value::Float(float) => Some(*float),
        _ => None,
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn gib_to_bytes(gib: f64) -> u64 {
    (gib * GIB).round() as u64
}

/// `512m`, `2g`, `1.5GiB`, `1048576` (bytes); binary multiples throughout. `None` for
/// anything else, including zero and negative sizes.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
#[must_use]
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => GIB,
        _ => return None,
    };
    Some((number * multiplier).round() as u64)
}

fn checked_entrypoint(source: &str, value: &str) -> Result<String, ConfigError> {
    let identifier = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    match value.trim().split_once(':') {
        Some((module, function)) if module.split('.').all(identifier) && identifier(function) => {
            Ok(value.trim().to_owned())
        }
        _ => Err(ConfigError::InvalidEntrypoint {
            source: source.to_owned(),
            value: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let app = tempfile::tempdir().expect("temp dir");
        for (name, contents) in files {
            fs_err::write(app.path().join(name), contents).expect("write");
        }
        app
    }

    #[test]
    fn defaults_without_any_file() {
        let app = project(&[]);
        let settings = read(app.path(), None).expect("reads");
        assert_eq!(settings.entrypoint, DEFAULT_ENTRYPOINT);
        assert_eq!(settings.timeout_seconds, None);
        assert!(settings.warnings.is_empty());
    }

    #[test]
    fn planqk_json_gives_limits_and_warns_about_unknown_keys() {
        let app = project(&[(
            "planqk.json",
            r#"{"name": "x", "resources": {"cpu": 2, "memory": 1.5, "gpu": {}}, "extra": 1}"#,
        )]);
        let settings = read(app.path(), None).expect("reads");
        assert_eq!(settings.cpus, Some(2.0));
        assert_eq!(settings.memory_bytes, Some(1_610_612_736));
        assert_eq!(settings.warnings.len(), 2, "{:?}", settings.warnings);
    }

    #[test]
    fn jobwrap_toml_wins_over_planqk_json_and_the_build_variable_wins_over_both() {
        let app = project(&[
            ("planqk.json", r#"{"resources": {"cpu": 1, "memory": 1}}"#),
            (
                "jobwrap.toml",
                "[job]\nentrypoint = \"app.main:handle\"\ntimeout = 90\nmemory = \"512MiB\"\ncpus = 0.5\n",
            ),
        ]);
        let settings = read(app.path(), None).expect("reads");
        assert_eq!(settings.entrypoint, "app.main:handle");
        assert_eq!(settings.timeout_seconds, Some(90.0));
        assert_eq!(settings.memory_bytes, Some(512 * 1024 * 1024));
        assert_eq!(settings.cpus, Some(0.5));

        assert_eq!(
            read(app.path(), Some("other.module:go"))
                .expect("reads")
                .entrypoint,
            "other.module:go"
        );
    }

    #[test]
    fn wrong_types_name_the_file_and_key() {
        for (file, contents, key) in [
            (
                "planqk.json",
                r#"{"resources": {"memory": "lots"}}"#,
                "resources.memory",
            ),
            ("planqk.json", r#"{"name": 3}"#, "name"),
            ("jobwrap.toml", "[job]\ntimeout = \"long\"\n", "job.timeout"),
            (
                "jobwrap.toml",
                "[job]\nmemory = \"2 parsecs\"\n",
                "job.memory",
            ),
        ] {
            let app = project(&[(file, contents)]);
            match read(app.path(), None) {
                Err(error) => {
                    let ConfigError::WrongType {
                        path, key: found, ..
                    } = &error
                    else {
                        panic!("{file} {contents}: {error:?}");
                    };
                    assert_eq!(path, Path::new(file), "named as in the project");
                    assert_eq!(found, key);
                    let message = error.to_string();
                    assert!(
                        message.starts_with(&format!("{file}: `{key}`")),
                        "{message}"
                    );
                }
                other => panic!("{file} {contents}: {other:?}"),
            }
        }
    }

    #[test]
    fn syntax_errors_and_bad_entry_points_are_errors() {
        let app = project(&[("planqk.json", "{\"name\": ")]);
        assert!(matches!(
            read(app.path(), None),
            Err(ConfigError::Syntax { .. })
        ));
        let app = project(&[("jobwrap.toml", "[job]\nentrypoint = \"src/program.py\"\n")]);
        assert!(matches!(
            read(app.path(), None),
            Err(ConfigError::InvalidEntrypoint { .. })
        ));
    }

    #[test]
    fn sizes_parse_strictly() {
        assert_eq!(parse_size("512m"), Some(512 * 1024 * 1024));
        assert_eq!(parse_size("2GiB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("1.5g"), Some(1_610_612_736));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("-1g"), None);
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("2 parsecs"), None);
    }
}
