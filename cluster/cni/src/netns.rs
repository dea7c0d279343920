//! Changes inside a pod's network namespace, made with `nsenter` and `ip` (iproute2),
//! run with a cleared environment.

use crate::errors::CniError;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

const NSENTER: &str = "/usr/bin/nsenter";
const IP: &str = "/usr/sbin/ip";
/// The down end of the pod's veth pair.
const SINK: &str = "jobwrap-sink";

/// Brings up the pod's `lo`.
pub(crate) fn loopback_up(netns: &Path) -> Result<(), CniError> {
    ip(netns, &["link", "set", "lo", "up"])
}

/// The pod's interface: one end of a veth pair whose other end stays down inside the
/// same namespace, so it has no carrier and leads nowhere. Its address is a /32: the
/// kernel adds no route for it. (veth, not `dummy`: some kernels lack the dummy driver.)
pub(crate) fn add_interface(netns: &Path, ifname: &str, address: Ipv4Addr) -> Result<(), CniError> {
    let exists = ip(netns, &["link", "show", "dev", ifname]).is_ok();
    if !exists {
        ip(
            netns,
            &["link", "add", ifname, "type", "veth", "peer", "name", SINK],
        )?;
    }
    ip(
        netns,
        &["addr", "replace", &format!("{address}/32"), "dev", ifname],
    )?;
    ip(netns, &["link", "set", ifname, "up"])
}

/// Best effort: the namespace may already be gone with the pod.
pub(crate) fn remove_interface(netns: &Path, ifname: &str) {
    if netns.exists() {
        // Deleting one end of a veth pair deletes both.
        let _ = ip(netns, &["link", "del", ifname]);
    }
}

fn ip(netns: &Path, args: &[&str]) -> Result<(), CniError> {
    let mut command = Command::new(NSENTER);
    command
        .env_clear()
        .arg(format!("--net={}", netns.display()))
        .arg("--")
        .arg(IP)
        .args(args);
    let output = command
        .output()
        .map_err(|error| CniError::Netns(format!("cannot run {NSENTER}: {error}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(CniError::Netns(format!(
        "`ip {}` in {} failed: {}",
        args.join(" "),
        netns.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}
