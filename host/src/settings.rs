//! The hardened settings of every job container, as data. Review them here.

use bollard::models::{HostConfig, HostConfigLogConfig};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Where the contract mounts things inside the container.
pub(crate) const INPUT_DATA_DIR: &str = "/var/input/data";
pub(crate) const INPUT_PARAMS_DIR: &str = "/var/input/params";
pub(crate) const OUTPUT_DIR: &str = "/var/runtime/output";

/// The job's resource limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    pub(crate) memory_bytes: u64,
    pub(crate) cpus: f64,
    pub(crate) timeout: Duration,
}

impl Limits {
    pub(crate) const DEFAULT_MEMORY: u64 = 1024 * 1024 * 1024;
    pub(crate) const DEFAULT_CPUS: f64 = 1.0;
    pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_hours(1);
}

/// Processes a job may have at once (fork bombs stop here; `ulimit nproc` would count
/// per host uid across containers).
const PIDS_LIMIT: i64 = 256;
/// The only writable places: `/tmp` (no executables) and a small `/dev/shm`.
const TMP_MOUNT: &str = "rw,noexec,nosuid,nodev,size=256m";
const SHM_BYTES: i64 = 16 * 1024 * 1024;
/// Container logs are not the result channel; keep them bounded.
const LOG_MAX_SIZE: &str = "16m";

/// The container's host settings for a job with `limits` and these host folders.
#[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
pub(crate) fn host_config(
    limits: &Limits,
    data: Option<&Path>,
    params: Option<&Path>,
    output: &Path,
) -> HostConfig {
    let mut binds = vec![format!("{}:{OUTPUT_DIR}:rw", output.display())];
    for (host, container) in [(data, INPUT_DATA_DIR), (params, INPUT_PARAMS_DIR)] {
        if let Some(host) = host {
            binds.push(format!("{}:{container}:ro", host.display()));
        }
    }
    HostConfig {
        network_mode: Some("none".into()),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([("/tmp".into(), TMP_MOUNT.into())])),
        shm_size: Some(SHM_BYTES),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        pids_limit: Some(PIDS_LIMIT),
        memory: Some(limits.memory_bytes as i64),
        // No swap: the memory limit is the limit.
        memory_swap: Some(limits.memory_bytes as i64),
        nano_cpus: Some((limits.cpus * 1e9).round() as i64),
        binds: Some(binds),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".into(), LOG_MAX_SIZE.into()),
                ("max-file".into(), "1".into()),
            ])),
        }),
        ..HostConfig::default()
    }
}

/// The daemon silently ignores settings it does not know: compares what was asked for
/// with what the created container has, and names every setting that was dropped.
pub(crate) fn dropped_settings(asked: &HostConfig, applied: &HostConfig) -> Vec<&'static str> {
    let mut dropped = Vec::new();
    let mut check = |name, same: bool| {
        if !same {
            dropped.push(name);
        }
    };
    check("network_mode", asked.network_mode == applied.network_mode);
    check(
        "readonly_rootfs",
        asked.readonly_rootfs == applied.readonly_rootfs,
    );
    check("tmpfs", asked.tmpfs == applied.tmpfs);
    check("cap_drop", asked.cap_drop == applied.cap_drop);
    check("security_opt", asked.security_opt == applied.security_opt);
    check("pids_limit", asked.pids_limit == applied.pids_limit);
    check("memory", asked.memory == applied.memory);
    check("memory_swap", asked.memory_swap == applied.memory_swap);
    check("nano_cpus", asked.nano_cpus == applied.nano_cpus);
    check("shm_size", asked.shm_size == applied.shm_size);
    check("binds", asked.binds == applied.binds);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            memory_bytes: 512 * 1024 * 1024,
            cpus: 0.5,
            timeout: Duration::from_mins(1),
        }
    }

    #[test]
    fn every_job_container_is_locked_down() {
        let config = host_config(
            &limits(),
            Some(Path::new("/in/data")),
            None,
            Path::new("/out"),
        );
        assert_eq!(config.network_mode.as_deref(), Some("none"));
        assert_eq!(config.readonly_rootfs, Some(true));
        assert_eq!(config.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(
            config.security_opt,
            Some(vec!["no-new-privileges".to_owned()])
        );
        assert_eq!(config.pids_limit, Some(256));
        assert_eq!(config.memory, Some(512 * 1024 * 1024));
        assert_eq!(config.memory_swap, config.memory, "no swap");
        assert_eq!(config.nano_cpus, Some(500_000_000));
        assert_eq!(config.shm_size, Some(16 * 1024 * 1024));
        let tmp = config
            .tmpfs
            .as_ref()
            .and_then(|t| t.get("/tmp"))
            .expect("a /tmp tmpfs");
        assert!(tmp.contains("noexec") && tmp.contains("nosuid"), "{tmp}");
        assert_eq!(
            config.binds,
            Some(vec![
                "/out:/var/runtime/output:rw".to_owned(),
                "/in/data:/var/input/data:ro".to_owned()
            ])
        );
        assert!(config.privileged.is_none() && config.cap_add.is_none());
        assert!(config.log_config.is_some());
    }

    #[test]
    fn a_dropped_setting_is_named() {
        let asked = host_config(&limits(), None, None, Path::new("/out"));
        assert!(dropped_settings(&asked, &asked).is_empty());
        let mut applied = asked.clone();
        applied.pids_limit = None;
        applied.readonly_rootfs = Some(false);
        assert_eq!(
            dropped_settings(&asked, &applied),
            ["readonly_rootfs", "pids_limit"]
        );
    }
}
