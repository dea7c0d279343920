//! The environment the user's code gets: a short allow-list plus whatever the image's
//! buildpacks set, never the caller's secrets or jobwrap's own settings.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

/// Variables passed through when present.
const ALLOWED: &[&str] = &[
    "PATH",
    "LANG",
    "TZ",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONHASHSEED",
    "PYTHONIOENCODING",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "LOG_LEVEL",
    "CNB_APP_DIR",
];

/// Never passed, even when a buildpack names them.
fn is_denied(name: &str) -> bool {
    name == "DATA_VALUE"
        || name == "PARAMS_VALUE"
        || name == "BASE64_ENCODED"
        || name.starts_with("JOBWRAP_")
}

/// Chooses the variables of `current` (the runner's environment) to pass on.
pub(crate) fn for_job(
    current: impl IntoIterator<Item = (OsString, OsString)>,
    layers_dir: &Path,
) -> Vec<(OsString, OsString)> {
    let from_layers = buildpack_variables(layers_dir);
    current
        .into_iter()
        .filter(|(name, _)| {
            name.to_str().is_some_and(|name| {
                !is_denied(name)
                    && (ALLOWED.contains(&name)
                        || name.starts_with("LC_")
                        || from_layers.contains(name))
            })
        })
        .collect()
}

/// Names of the variables set by buildpack layers: `<layers>/<buildpack>/<layer>/env*/NAME[.action]`.
fn buildpack_variables(layers_dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let entries = |path: &Path| std::fs::read_dir(path).into_iter().flatten().flatten();
    for buildpack in entries(layers_dir) {
        for layer in entries(&buildpack.path()) {
            let env = layer.path().join("env");
            let launch = layer.path().join("env.launch");
            // `env.launch/<process>/` holds the variables of one process type only.
            let per_process = entries(&launch).filter(|entry| entry.path().is_dir());
            let dirs = [env, launch.clone()]
                .into_iter()
                .chain(per_process.map(|entry| entry.path()));
            for env_dir in dirs {
                for file in entries(&env_dir).filter(|entry| !entry.path().is_dir()) {
                    let file_name = file.file_name();
                    let Some(file_name) = file_name.to_str() else {
                        continue;
                    };
                    let name = file_name
                        .rsplit_once('.')
                        .filter(|(_, action)| {
                            matches!(
                                *action,
                                "default" | "override" | "append" | "prepend" | "delim"
                            )
                        })
                        .map_or(file_name, |(name, _)| name);
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(passed: &[(OsString, OsString)]) -> Vec<&str> {
        passed
            .iter()
            .filter_map(|(name, _)| name.to_str())
            .collect()
    }

    #[test]
    fn passes_the_allow_list_and_buildpack_variables_only() {
        let layers = tempfile::tempdir().expect("temp dir");
        let env_dir = layers.path().join("jobwrap_python/venv/env.launch");
        std::fs::create_dir_all(&env_dir).expect("env dir");
        for file in [
            "MPLBACKEND.override",
            "PIP_NO_INDEX.default",
            "JOBWRAP_ENTRYPOINT.override",
            "job/OMP_NUM_THREADS.default",
        ] {
            let path = env_dir.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("env dir");
            std::fs::write(path, "x").expect("env file");
        }
        let current = [
            "PATH",
            "HOME",
            "AWS_SECRET_ACCESS_KEY",
            "DATA_VALUE",
            "PARAMS_VALUE",
            "BASE64_ENCODED",
            "JOBWRAP_TIMEOUT",
            "JOBWRAP_ENTRYPOINT",
            "LC_ALL",
            "MPLBACKEND",
            "PIP_NO_INDEX",
            "PYTHONPATH",
            "OMP_NUM_THREADS",
            "job",
        ]
        .map(|name| (OsString::from(name), OsString::from("value")));
        let passed = for_job(current, layers.path());
        assert_eq!(
            names(&passed),
            [
                "PATH",
                "LC_ALL",
                "MPLBACKEND",
                "PIP_NO_INDEX",
                "PYTHONPATH",
                "OMP_NUM_THREADS"
            ]
        );
    }
}
