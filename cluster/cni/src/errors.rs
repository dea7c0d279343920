//! The plugin's errors, printed as the CNI spec's error object so the runtime (and the
//! kubelet's events) show what went wrong.

use serde_json::json;
use std::path::PathBuf;

#[derive(Debug)]
pub(crate) enum CniError {
    IncompatibleVersion(String),
    UnknownCommand(String),
    MissingVariable(&'static str),
    Stdin(std::io::Error),
    Config(String),
    Leases(PathBuf, std::io::Error),
    Exhausted(String),
    NoLease(String),
    Netns(String),
}

impl CniError {
    /// The spec's well-known codes: 1 version, 4 unknown variable, 6 bad config,
    /// 7 invalid variable, 11 try again later; 100+ are the plugin's own.
    fn code(&self) -> u32 {
        match self {
            CniError::IncompatibleVersion(_) => 1,
            CniError::MissingVariable(_) => 4,
            CniError::Stdin(_) | CniError::Config(_) => 6,
            CniError::UnknownCommand(_) => 7,
            CniError::Exhausted(_) => 11,
            CniError::Leases(..) => 100,
            CniError::NoLease(_) => 101,
            CniError::Netns(_) => 102,
        }
    }

    fn message(&self) -> String {
        match self {
            CniError::IncompatibleVersion(version) => format!(
                "CNI version {version:?} is not supported; use one of {:?}",
                crate::SUPPORTED_VERSIONS
            ),
            CniError::UnknownCommand(command) => {
                format!("unknown CNI_COMMAND {command:?}: expected ADD, DEL, CHECK or VERSION")
            }
            CniError::MissingVariable(name) => format!("{name} is not set"),
            CniError::Stdin(error) => format!("cannot read the network configuration: {error}"),
            CniError::Config(message) | CniError::Netns(message) => message.clone(),
            CniError::Leases(path, error) => {
                format!("cannot use the address lease {}: {error}", path.display())
            }
            CniError::Exhausted(subnet) => {
                format!("every address of {subnet} is leased; a larger subnet or fewer pods")
            }
            CniError::NoLease(container) => format!("container {container} holds no address"),
        }
    }

    pub(crate) fn to_json(&self, version: &str) -> String {
        json!({ "cniVersion": version, "code": self.code(), "msg": self.message() }).to_string()
    }
}
