//! The runner's own wall around the user's code, for images run with laxer settings than
//! jobwrap's (a plain `docker run`, a pod without a security context) and for `--local`.
//!
//! Prepared in the runner (where memory may be allocated), applied in the child between
//! fork and exec (system calls only). Each layer degrades with a warning where the kernel
//! lacks it, or fails the job before it starts in strict mode (`JOBWRAP_STRICT=1`).

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, Scope, path_beneath_rules,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::path::Path;

/// System calls a job never needs: they fail with EPERM. Reviewed as one table.
const DENIED_SYSCALLS: &[(i64, &str)] = &[
    (
        libc::SYS_ptrace,
        "ptrace: inspect or control other processes",
    ),
    (libc::SYS_process_vm_readv, "read another process's memory"),
    (
        libc::SYS_process_vm_writev,
        "write another process's memory",
    ),
    (libc::SYS_mount, "mount file systems"),
    (libc::SYS_umount2, "unmount file systems"),
    (libc::SYS_pivot_root, "change the root file system"),
    (libc::SYS_chroot, "change the root directory"),
    (libc::SYS_fsopen, "new mount API"),
    (libc::SYS_fsmount, "new mount API"),
    (libc::SYS_fspick, "new mount API"),
    (libc::SYS_move_mount, "new mount API"),
    (libc::SYS_open_tree, "new mount API"),
    (libc::SYS_unshare, "new namespaces"),
    (libc::SYS_setns, "enter namespaces"),
    (libc::SYS_keyctl, "kernel keyrings"),
    (libc::SYS_add_key, "kernel keyrings"),
    (libc::SYS_request_key, "kernel keyrings"),
    (libc::SYS_bpf, "eBPF programs"),
    (
        libc::SYS_perf_event_open,
        "performance monitoring (side channels)",
    ),
    (
        libc::SYS_io_uring_setup,
        "io_uring: bypasses the socket() filter",
    ),
    (libc::SYS_io_uring_enter, "io_uring"),
    (libc::SYS_io_uring_register, "io_uring"),
    (
        libc::SYS_userfaultfd,
        "userfaultfd: kernel exploit primitive",
    ),
    (libc::SYS_kexec_load, "load a new kernel"),
    (libc::SYS_kexec_file_load, "load a new kernel"),
    (libc::SYS_init_module, "load kernel modules"),
    (libc::SYS_finit_module, "load kernel modules"),
    (libc::SYS_delete_module, "unload kernel modules"),
    (
        libc::SYS_open_by_handle_at,
        "open files by handle (container escape)",
    ),
    (libc::SYS_name_to_handle_at, "file handles"),
    (libc::SYS_swapon, "swap"),
    (libc::SYS_swapoff, "swap"),
    (libc::SYS_reboot, "reboot"),
    (libc::SYS_acct, "process accounting"),
    (libc::SYS_quotactl, "disk quotas"),
    (libc::SYS_syslog, "the kernel log"),
    (libc::SYS_fanotify_init, "watch the whole file system"),
];
/// `clone` with any of these flags makes new namespaces: denied like `unshare`.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// The layers, by the names `status.json` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    NoNewPrivs,
    Seccomp,
    LandlockFs,
    LandlockNet,
    SignalScope,
    Rlimits,
    NotDumpable,
}

impl Layer {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Layer::NoNewPrivs => "no_new_privs",
            Layer::Seccomp => "seccomp",
            Layer::LandlockFs => "landlock_fs",
            Layer::LandlockNet => "landlock_net",
            Layer::SignalScope => "landlock_signal_scope",
            Layer::Rlimits => "rlimits",
            Layer::NotDumpable => "not_dumpable",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) strict: bool,
    pub(crate) allow_network: bool,
    /// For tests and diagnosis only: layers switched off (`JOBWRAP_SANDBOX_DISABLE`).
    pub(crate) disabled: Vec<String>,
    pub(crate) max_file_bytes: u64,
}

impl Settings {
    fn enabled(&self, group: &str) -> bool {
        !self.disabled.iter().any(|name| name == group)
    }
}

#[derive(Debug)]
pub(crate) enum SandboxError {
    Unavailable { layer: &'static str, reason: String },
}

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxError::Unavailable { layer, reason } => write!(
                f,
                "the sandbox layer {layer} is not available here ({reason}) and JOBWRAP_STRICT=1 \
                 requires every layer; run on a kernel with it, or unset JOBWRAP_STRICT"
            ),
        }
    }
}

/// Everything the child applies to itself before it runs the user's code.
pub(crate) struct Prepared {
    filters: Vec<BpfProgram>,
    landlock: Option<RulesetCreated>,
    rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    no_new_privs: bool,
    /// What will be active, for `status.json`.
    pub(crate) active: Vec<Layer>,
}

/// Makes the runner itself not dumpable: a job process of the same user then cannot read
/// its memory or environment through /proc, nor trace it.
pub(crate) fn protect_runner(settings: &Settings) -> Option<Layer> {
    if !settings.enabled("dumpable") {
        return None;
    }
    // SAFETY: prctl with integer arguments only.
    let done = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } == 0;
    done.then_some(Layer::NotDumpable)
}

pub(crate) fn prepare(settings: &Settings, writable: &[&Path]) -> Result<Prepared, SandboxError> {
    let mut prepared = Prepared {
        filters: Vec::new(),
        landlock: None,
        rlimits: Vec::new(),
        no_new_privs: settings.enabled("no_new_privs"),
        active: Vec::new(),
    };
    if prepared.no_new_privs {
        prepared.active.push(Layer::NoNewPrivs);
    }
    if settings.enabled("rlimits") {
        prepared.rlimits = vec![
            (libc::RLIMIT_CORE, 0),
            (libc::RLIMIT_FSIZE, settings.max_file_bytes),
            (libc::RLIMIT_NOFILE, 4096),
        ];
        prepared.active.push(Layer::Rlimits);
    }
    if settings.enabled("seccomp") {
        prepared.filters = seccomp_filters(settings.allow_network).map_err(|reason| {
            SandboxError::Unavailable {
                layer: "seccomp",
                reason,
            }
        })?;
        prepared.active.push(Layer::Seccomp);
    }
    if settings.enabled("landlock") {
        let (ruleset, active) = landlock_ruleset(settings, writable)?;
        prepared.landlock = ruleset;
        prepared.active.extend(active);
    }
    Ok(prepared)
}

/// Applies the layers to the calling process. Runs in the child between fork and exec,
/// where the runner is single-threaded: only system calls, nothing that can deadlock.
pub(crate) fn apply(prepared: &mut Prepared) -> std::io::Result<()> {
    for (resource, limit) in &prepared.rlimits {
        let value = libc::rlimit {
            rlim_cur: *limit,
            rlim_max: *limit,
        };
        // SAFETY: a valid rlimit struct for a known resource.
        if unsafe { libc::setrlimit(*resource, &raw const value) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    if prepared.no_new_privs {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    if let Some(ruleset) = prepared.landlock.take() {
        ruleset.restrict_self().map_err(std::io::Error::other)?;
    }
    for filter in &prepared.filters {
        seccompiler::apply_filter(filter).map_err(std::io::Error::other)?;
    }
    Ok(())
}

fn seccomp_filters(allow_network: bool) -> Result<Vec<BpfProgram>, String> {
    let arch = TargetArch::x86_64;
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = DENIED_SYSCALLS
        .iter()
        .map(|(number, _)| (*number, Vec::new()))
        .collect();
    let condition = |index, op, value| {
        SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(|e| e.to_string())
    };
    let mut clone_rules = Vec::new();
    for flag in NAMESPACE_FLAGS {
        let rule = SeccompRule::new(vec![condition(0, SeccompCmpOp::MaskedEq(*flag), *flag)?]);
        clone_rules.push(rule.map_err(|e| e.to_string())?);
    }
    denied.insert(libc::SYS_clone, clone_rules);
    if !allow_network {
        // Only local (AF_UNIX) sockets: Python and its libraries use them internally.
        let domain = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )
        .map_err(|e| e.to_string())?;
        denied.insert(
            libc::SYS_socket,
            vec![SeccompRule::new(vec![domain]).map_err(|e| e.to_string())?],
        );
    }
    let deny = SeccompFilter::new(
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes the C library
    // fall back to clone, whose flags the first filter checks.
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    [deny, clone3]
        .into_iter()
        .map(|filter| BpfProgram::try_from(filter).map_err(|e| e.to_string()))
        .collect()
}

/// Read-only file system except the writable folders; no TCP bind or connect unless the
/// job allows network; no signals to processes outside the job (the runner).
fn landlock_ruleset(
    settings: &Settings,
    writable: &[&Path],
) -> Result<(Option<RulesetCreated>, Vec<Layer>), SandboxError> {
    let abi = ABI::V6;
    let unavailable = |reason: String| SandboxError::Unavailable {
        layer: "landlock",
        reason,
    };
    let level = if settings.strict {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let supported = kernel_abi();
    let mut active = Vec::new();
    if supported < 1 {
        if settings.strict {
            return Err(unavailable("the kernel has no Landlock".into()));
        }
        crate::log::warn(
            "Landlock is not available: the file system is not restricted by the runner",
        );
        return Ok((None, active));
    }
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(abi))
        .map_err(|e| unavailable(e.to_string()))?;
    active.push(Layer::LandlockFs);
    if !settings.allow_network {
        if supported >= 4 {
            ruleset = ruleset
                .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
                .map_err(|e| unavailable(e.to_string()))?;
            active.push(Layer::LandlockNet);
        } else if settings.strict {
            return Err(unavailable(format!(
                "Landlock ABI {supported} cannot restrict TCP (needs 4)"
            )));
        }
    }
    if supported >= 6 {
        ruleset = ruleset
            .scope(Scope::Signal)
            .map_err(|e| unavailable(e.to_string()))?;
        active.push(Layer::SignalScope);
    } else if settings.strict {
        return Err(unavailable(format!(
            "Landlock ABI {supported} cannot scope signals (needs 6)"
        )));
    }
    let existing = |paths: &[&Path]| {
        paths
            .iter()
            .copied()
            .filter(|p| p.exists())
            .map(Path::to_owned)
            .collect::<Vec<_>>()
    };
    let devices = existing(&[
        Path::new("/dev/null"),
        Path::new("/dev/zero"),
        Path::new("/dev/full"),
    ]);
    let mut writable_paths = existing(writable);
    writable_paths.extend(existing(&[Path::new("/dev/shm")]));
    let created = ruleset
        .create()
        .map_err(|e| unavailable(e.to_string()))?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                &devices,
                AccessFs::from_read(abi) | AccessFs::WriteFile,
            ))
        })
        .and_then(|r| r.add_rules(path_beneath_rules(&writable_paths, AccessFs::from_all(abi))))
        .map_err(|e| unavailable(e.to_string()))?;
    Ok((Some(created), active))
}

/// The kernel's Landlock ABI version (0: none).
fn kernel_abi() -> i64 {
    // SAFETY: the documented version query: null attributes, size 0, the VERSION flag.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    }
    .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_compile() {
        assert_eq!(seccomp_filters(false).expect("filters").len(), 2);
        assert_eq!(seccomp_filters(true).expect("filters").len(), 2);
    }

    #[test]
    fn every_layer_is_reported_when_prepared() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            max_file_bytes: 1 << 30,
            ..Settings::default()
        };
        let prepared = prepare(&settings, &[tmp.path()]).expect("prepares");
        let names: Vec<_> = prepared.active.iter().map(|layer| layer.name()).collect();
        assert!(
            names.starts_with(&["no_new_privs", "rlimits", "seccomp"]),
            "{names:?}"
        );
        if kernel_abi() >= 6 {
            assert!(
                names.ends_with(&["landlock_fs", "landlock_net", "landlock_signal_scope"]),
                "{names:?}"
            );
        }
        let disabled = Settings {
            disabled: vec!["seccomp".into(), "landlock".into()],
            ..settings
        };
        let prepared = prepare(&disabled, &[tmp.path()]).expect("prepares");
        let names: Vec<_> = prepared.active.iter().map(|layer| layer.name()).collect();
        assert_eq!(names, ["no_new_privs", "rlimits"]);
    }
}
