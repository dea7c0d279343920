//! `jobwrap-cni`: the CI cluster's CNI plugin (spec 1.0). Each pod gets one address on
//! an interface that leads nowhere and no routes at all, so nothing a pod sends can leave
//! the machine.
//! Installed twice: as `jobwrap-cni`, and as `loopback`, which containerd's CRI calls to
//! bring up each pod's `lo`.
//!
//! `main` reads the request ([`request`]), hands out or frees an address ([`ipam`]),
//! changes the pod's network namespace ([`netns`]) and prints the result ([`reply`]).

mod errors;
mod ipam;
mod netns;
mod reply;
mod request;

use crate::errors::CniError;
use crate::reply::{Address, Reply};
use crate::request::{Command, Plugin, Request};
use std::io::Write;
use std::process::ExitCode;

/// CNI versions whose result format this plugin writes.
const SUPPORTED_VERSIONS: [&str; 4] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

fn main() -> ExitCode {
    let outcome = request::read().and_then(|request| handle(&request));
    let (text, code) = match outcome {
        Ok(Some(reply)) => (reply, ExitCode::SUCCESS),
        Ok(None) => return ExitCode::SUCCESS,
        Err((version, error)) => (error.to_json(&version), ExitCode::FAILURE),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    code
}

/// The reply to print, if the command has one.
fn handle(request: &Request) -> Result<Option<String>, (String, CniError)> {
    let version = request.config.cni_version.clone();
    let fail = |error| (version.clone(), error);
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) && request.command != Command::Version {
        return Err(fail(CniError::IncompatibleVersion(version.clone())));
    }
    match (&request.command, &request.config.plugin) {
        (Command::Version, _) => Ok(Some(reply::versions(&SUPPORTED_VERSIONS))),
        (Command::Add, Plugin::Loopback) => {
            let sandbox = request.netns().map_err(fail)?;
            netns::loopback_up(sandbox).map_err(fail)?;
            let reply = Reply {
                interface: "lo",
                sandbox,
                address: Address::Loopback,
            };
            Ok(Some(reply.to_json(&version)))
        }
        (Command::Add, Plugin::Pods(pods)) => {
            let sandbox = request.netns().map_err(fail)?;
            let lease = ipam::lease(pods, &request.container_id, &request.ifname).map_err(fail)?;
            if let Err(error) = netns::add_interface(sandbox, &request.ifname, lease) {
                // Nothing of a failed ADD may stay behind.
                let _ = ipam::release(pods, &request.container_id, &request.ifname);
                return Err(fail(error));
            }
            let reply = Reply {
                interface: &request.ifname,
                sandbox,
                address: Address::Pod(lease),
            };
            Ok(Some(reply.to_json(&version)))
        }
        (Command::Check, Plugin::Pods(pods)) => {
            ipam::leased(pods, &request.container_id, &request.ifname)
                .map_err(fail)?
                .ok_or_else(|| fail(CniError::NoLease(request.container_id.clone())))?;
            Ok(None)
        }
        (Command::Del, Plugin::Pods(pods)) => {
            // DEL must succeed however much of the pod is already gone.
            if let Ok(sandbox) = request.netns() {
                netns::remove_interface(sandbox, &request.ifname);
            }
            ipam::release(pods, &request.container_id, &request.ifname).map_err(fail)?;
            Ok(None)
        }
        (Command::Check | Command::Del, Plugin::Loopback) => Ok(None),
    }
}
