//! Starts the shim and watches the whole process tree of the job: timeout (SIGTERM,
//! grace, SIGKILL), signals from outside, reaping, and ending every process at the end.

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The signals the runner handles itself (blocked and taken with `sigtimedwait`).
pub(crate) fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(signal);
    }
    set
}

/// How the shim process ended, and what happened on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Supervision {
    pub(crate) exit: ChildExit,
    pub(crate) timed_out: bool,
    /// The runner was told to stop (e.g. `docker stop`).
    pub(crate) terminated: Option<Signal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildExit {
    Code(i32),
    Signal(Signal),
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Running,
    Terminating { until: Instant },
    Killed,
}

/// Who the runner is in its PID namespace decides how it reaches every job process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// PID 1: `kill(-1, …)` reaches every other process of the container.
    Namespace,
    /// Anywhere else: the job is every descendant (the runner is a child subreaper).
    Descendants,
}

impl Reach {
    pub(crate) fn detect() -> Self {
        if std::process::id() == 1 {
            Reach::Namespace
        } else {
            Reach::Descendants
        }
    }

    /// Sends `signal` to every process of the job; returns how many were signalled.
    pub(crate) fn signal_all(self, signal: Signal) -> usize {
        match self {
            Reach::Namespace => usize::from(kill(Pid::from_raw(-1), signal).is_ok()),
            Reach::Descendants => {
                let pids = descendants(Pid::this());
                for pid in &pids {
                    let _ = kill(*pid, signal);
                }
                pids.len()
            }
        }
    }
}

/// Waits for the shim (`child`) to end, enforcing the timeout and grace period.
pub(crate) fn supervise(
    child: Pid,
    timeout: Duration,
    grace: Duration,
    reach: Reach,
    signals: &SigSet,
) -> Supervision {
    let deadline = Instant::now() + timeout;
    let mut phase = Phase::Running;
    let mut timed_out = false;
    let mut terminated = None;
    loop {
        let wake = match phase {
            Phase::Running => deadline,
            Phase::Terminating { until } => until,
            Phase::Killed => Instant::now() + Duration::from_millis(200),
        };
        let received = wait_signal(signals, wake.saturating_duration_since(Instant::now()));
        match received {
            Some((Signal::SIGCHLD, _)) => {
                if let Some(exit) = reap(Some(child)) {
                    return Supervision {
                        exit,
                        timed_out,
                        terminated,
                    };
                }
            }
            Some((signal, sender)) => {
                // A container's stop signal comes from outside the namespace (sender 0);
                // a job process signalling PID 1 must not end the job early.
                if reach == Reach::Namespace && sender != 0 {
                    crate::log::warn(format_args!(
                        "ignored {signal} sent by process {sender} of the job"
                    ));
                    continue;
                }
                crate::log::info(format_args!("received {signal}, stopping the job"));
                terminated.get_or_insert(signal);
                if let Phase::Running = phase {
                    reach.signal_all(Signal::SIGTERM);
                    phase = Phase::Terminating {
                        until: Instant::now() + grace,
                    };
                }
            }
            None => match phase {
                Phase::Running if Instant::now() >= deadline => {
                    crate::log::warn(format_args!(
                        "the job exceeded its timeout of {}s; sending SIGTERM",
                        timeout.as_secs_f64()
                    ));
                    timed_out = true;
                    reach.signal_all(Signal::SIGTERM);
                    phase = Phase::Terminating {
                        until: Instant::now() + grace,
                    };
                }
                Phase::Terminating { until } if Instant::now() >= until => {
                    crate::log::warn("the job did not stop in its grace period; sending SIGKILL");
                    reach.signal_all(Signal::SIGKILL);
                    phase = Phase::Killed;
                }
                Phase::Killed => {
                    reach.signal_all(Signal::SIGKILL);
                }
                _ => {}
            },
        }
    }
}

/// Ends every remaining process of the job and reaps them all. Returns how many
/// processes were still running.
pub(crate) fn end_all(reach: Reach) -> usize {
    reap(None);
    // As a child subreaper the runner inherits every orphan of the job, so when it has
    // no child left, no process of the job is left: no need to scan /proc (the common
    // case, and two scans of every process on the machine saved).
    if reach == Reach::Descendants && !has_children() {
        return 0;
    }
    let mut ended = 0;
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let signalled = reach.signal_all(Signal::SIGKILL);
        reap(None);
        let remaining = match reach {
            Reach::Namespace => signalled,
            Reach::Descendants => descendants(Pid::this()).len(),
        };
        if remaining == 0 || Instant::now() >= give_up {
            if remaining > 0 {
                crate::log::error(format_args!("{remaining} job processes could not be ended"));
            }
            break;
        }
        ended = ended.max(remaining);
        std::thread::sleep(Duration::from_millis(2));
    }
    // Every child is dead or dying: wait for the last ones.
    while let Ok(status) = waitpid(None, None) {
        if status.pid().is_none() {
            break;
        }
    }
    ended
}

/// True unless the runner certainly has no child (one that exits right now may be
/// reaped here, and then counts as a child).
fn has_children() -> bool {
    !matches!(
        waitpid(None, Some(WaitPidFlag::WNOHANG)),
        Err(Errno::ECHILD)
    )
}

/// Reaps every exited child; returns the exit of `wanted` if it was among them.
fn reap(wanted: Option<Pid>) -> Option<ChildExit> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                if Some(pid) == wanted {
                    found = Some(ChildExit::Code(code));
                }
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                if Some(pid) == wanted {
                    found = Some(ChildExit::Signal(signal));
                }
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return found,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return found,
        }
    }
}

fn wait_signal(set: &SigSet, timeout: Duration) -> Option<(Signal, i32)> {
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos().min(999_999_999).cast_signed()),
    };
    // SAFETY: zeroed siginfo_t is a valid out-parameter for sigtimedwait.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the set, info and timeout pointers are valid for the call.
    let number = unsafe { libc::sigtimedwait(set.as_ref(), &raw mut info, &raw const timeout) };
    if number < 0 {
        return None;
    }
    // SAFETY: si_pid is defined for signals sent by kill() and for SIGCHLD.
    let sender = unsafe { info.si_pid() };
    Signal::try_from(number).ok().map(|signal| (signal, sender))
}

/// Every process descended from `root`, from `/proc`.
pub(crate) fn descendants(root: Pid) -> Vec<Pid> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: fields follow the last ')'.
        let Some(parent) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|field| field.parse::<i32>().ok())
        else {
            continue;
        };
        children.entry(parent).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut queue = vec![root.as_raw()];
    while let Some(parent) = queue.pop() {
        for &child in children.get(&parent).into_iter().flatten() {
            found.push(Pid::from_raw(child));
            queue.push(child);
        }
    }
    found
}

/// The kernel's count of OOM kills in the runner's memory cgroup (v1 or v2), if it can
/// be read.
pub(crate) fn oom_kills() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    oom_counter_files(&own).iter().find_map(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        text.lines().find_map(|line| {
            line.strip_prefix("oom_kill ")
                .and_then(|count| count.trim().parse().ok())
        })
    })
}

/// Where the OOM kill counter of the cgroup named in `/proc/self/cgroup` lives, then the
/// mount's root (a container with its own cgroup namespace sees its cgroup there).
fn oom_counter_files(proc_self_cgroup: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut files = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            files.push(
                root.join("memory")
                    .join(relative)
                    .join("memory.oom_control"),
            );
        } else if controllers.is_empty() {
            files.push(root.join(relative).join("memory.events"));
        }
    }
    files.push(root.join("memory/memory.oom_control"));
    files.push(root.join("memory.events"));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_counters_of_the_own_cgroup_come_first() {
        let v1 = "4:memory:/process_api/abc\n0::/\n";
        let files = oom_counter_files(v1);
        assert_eq!(
            files[..2],
            [
                std::path::PathBuf::from(
                    "/sys/fs/cgroup/memory/process_api/abc/memory.oom_control"
                ),
                std::path::PathBuf::from("/sys/fs/cgroup/memory.events"),
            ]
        );
        let v2 = oom_counter_files("0::/system.slice/job.scope\n");
        assert_eq!(
            v2[0],
            std::path::PathBuf::from("/sys/fs/cgroup/system.slice/job.scope/memory.events")
        );
    }

    #[test]
    fn finds_descendants_of_a_process() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & sleep 5 & wait"])
            .spawn()
            .expect("sh runs");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        let give_up = Instant::now() + Duration::from_secs(5);
        let mut found = descendants(pid);
        while found.len() < 2 && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
            found = descendants(pid);
        }
        assert_eq!(found.len(), 2, "two sleeps under sh");
        assert!(descendants(Pid::this()).contains(&pid));
        let _ = child.kill();
        for pid in found {
            let _ = kill(pid, Signal::SIGKILL);
        }
        let _ = child.wait();
    }
}
