//! The request, as the CNI spec passes it: the command and the pod in `CNI_*` variables,
//! the network's configuration as JSON on stdin.

use crate::errors::CniError;
use serde::Deserialize;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Where leases live when the configuration names no `dataDir`.
const DEFAULT_DATA_DIR: &str = "/var/lib/jobwrap-cni";
/// A network configuration is a few hundred bytes; refuse to buffer more than this.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Add,
    Del,
    Check,
    Version,
}

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) command: Command,
    pub(crate) container_id: String,
    pub(crate) ifname: String,
    netns: Option<PathBuf>,
    pub(crate) config: Config,
}

impl Request {
    /// The pod's network namespace (required by ADD).
    pub(crate) fn netns(&self) -> Result<&Path, CniError> {
        self.netns
            .as_deref()
            .ok_or(CniError::MissingVariable("CNI_NETNS"))
    }
}

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) cni_version: String,
    pub(crate) plugin: Plugin,
}

#[derive(Debug)]
pub(crate) enum Plugin {
    /// containerd's own `lo` network: `{"type": "loopback"}`.
    Loopback,
    /// The pods' network: `{"type": "jobwrap-cni", "subnet": "198.18.1.0/24"}`.
    Pods(Pods),
}

/// The pods' addresses: an IPv4 subnet, leased one address per pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pods {
    pub(crate) network: Ipv4Addr,
    pub(crate) prefix: u8,
    pub(crate) data_dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    cni_version: String,
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    kind: String,
    subnet: Option<String>,
    data_dir: Option<PathBuf>,
}

/// The request, from this process's environment and stdin. On failure, the CNI version
/// to answer in comes with the error.
pub(crate) fn read() -> Result<Request, (String, CniError)> {
    let mut stdin = String::new();
    std::io::stdin()
        .take(MAX_CONFIG_BYTES)
        .read_to_string(&mut stdin)
        .map_err(|error| (String::new(), CniError::Stdin(error)))?;
    parse(&|name| std::env::var(name).ok(), &stdin)
}

fn parse(env: &dyn Fn(&str) -> Option<String>, stdin: &str) -> Result<Request, (String, CniError)> {
    let command = match env("CNI_COMMAND").as_deref() {
        Some("ADD") => Command::Add,
        Some("DEL") => Command::Del,
        Some("CHECK") => Command::Check,
        Some("VERSION") => Command::Version,
        Some(other) => return Err((String::new(), CniError::UnknownCommand(other.to_owned()))),
        None => return Err((String::new(), CniError::MissingVariable("CNI_COMMAND"))),
    };
    let raw: RawConfig = serde_json::from_str(stdin).map_err(|error| {
        (
            String::new(),
            CniError::Config(format!("stdin is not a network configuration: {error}")),
        )
    })?;
    let version = raw.cni_version.clone();
    let config = config(raw).map_err(|error| (version.clone(), error))?;
    if command == Command::Version {
        return Ok(Request {
            command,
            container_id: String::new(),
            ifname: String::new(),
            netns: None,
            config,
        });
    }
    let required = |name: &'static str| {
        env(name)
            .filter(|value| !value.is_empty())
            .ok_or((version.clone(), CniError::MissingVariable(name)))
    };
    let container_id = required("CNI_CONTAINERID")?;
    let ifname = required("CNI_IFNAME")?;
    if !valid_name(&container_id) || !valid_ifname(&ifname) {
        return Err((
            version,
            CniError::Config(format!(
                "unusable container id {container_id:?} or interface {ifname:?}"
            )),
        ));
    }
    Ok(Request {
        command,
        container_id,
        ifname,
        netns: env("CNI_NETNS")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from),
        config,
    })
}

fn config(raw: RawConfig) -> Result<Config, CniError> {
    let plugin = match raw.kind.as_str() {
        "loopback" => Plugin::Loopback,
        "jobwrap-cni" => {
            let subnet = raw.subnet.ok_or_else(|| {
                CniError::Config(format!("network {:?} has no \"subnet\"", raw.name))
            })?;
            let (network, prefix) = parse_subnet(&subnet)?;
            Plugin::Pods(Pods {
                network,
                prefix,
                data_dir: raw
                    .data_dir
                    .unwrap_or_else(|| Path::new(DEFAULT_DATA_DIR).join(&raw.name)),
            })
        }
        other => {
            return Err(CniError::Config(format!(
                "this plugin is not of type {other:?}"
            )));
        }
    };
    Ok(Config {
        cni_version: raw.cni_version,
        plugin,
    })
}

/// `a.b.c.d/n` with the host bits zero, `n` from 16 to 30.
fn parse_subnet(text: &str) -> Result<(Ipv4Addr, u8), CniError> {
    let unusable = || {
        CniError::Config(format!(
            "\"subnet\": {text:?} is not an IPv4 subnet like 198.18.1.0/24"
        ))
    };
    let (address, prefix) = text.split_once('/').ok_or_else(unusable)?;
    let address: Ipv4Addr = address.parse().map_err(|_| unusable())?;
    let prefix: u8 = prefix.parse().map_err(|_| unusable())?;
    if !(16..=30).contains(&prefix) || u32::from(address) & !(u32::MAX << (32 - prefix)) != 0 {
        return Err(unusable());
    }
    Ok((address, prefix))
}

/// Container ids become file contents and command arguments: keep them plain.
fn valid_name(text: &str) -> bool {
    text.len() <= 256
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
}

/// Linux interface names: at most 15 bytes, no slash, no whitespace.
fn valid_ifname(text: &str) -> bool {
    text.len() <= 15
        && text != "."
        && text != ".."
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    const PODS: &str = r#"{"cniVersion": "1.0.0", "name": "jobwrap", "type": "jobwrap-cni", "subnet": "198.18.1.0/24"}"#;

    #[test]
    fn an_add_request_is_read_from_environment_and_stdin() {
        let vars = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc123"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/var/run/netns/cni-1"),
        ];
        let request = parse(&env(&vars), PODS).expect("parses");
        assert_eq!(request.command, Command::Add);
        assert_eq!(
            request.netns().expect("netns"),
            Path::new("/var/run/netns/cni-1")
        );
        let Plugin::Pods(pods) = request.config.plugin else {
            panic!("not the pods' network")
        };
        assert_eq!(
            (pods.network, pods.prefix),
            (Ipv4Addr::new(198, 18, 1, 0), 24)
        );
        assert_eq!(pods.data_dir, Path::new("/var/lib/jobwrap-cni/jobwrap"));
    }

    #[test]
    fn bad_requests_are_refused_with_the_reason() {
        let add = [("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "eth0")];
        let (_, error) = parse(&env(&add), PODS).expect_err("no container id");
        assert!(matches!(
            error,
            CniError::MissingVariable("CNI_CONTAINERID")
        ));
        let evil = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "../../etc"),
            ("CNI_IFNAME", "eth0"),
        ];
        assert!(parse(&env(&evil), PODS).is_err());
        let version = [("CNI_COMMAND", "VERSION")];
        for subnet in ["198.18.1.1/24", "198.18.1.0/8", "nonsense", "198.18.1.0"] {
            let config = PODS.replace("198.18.1.0/24", subnet);
            assert!(parse(&env(&version), &config).is_err(), "{subnet}");
        }
        assert!(parse(&env(&[("CNI_COMMAND", "GC")]), PODS).is_err());
    }

    #[test]
    fn loopback_needs_no_subnet() {
        let vars = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "a"),
            ("CNI_IFNAME", "lo"),
        ];
        let config = r#"{"cniVersion": "0.3.1", "name": "cni-loopback", "type": "loopback"}"#;
        let request = parse(&env(&vars), config).expect("parses");
        assert!(matches!(request.config.plugin, Plugin::Loopback));
        assert_eq!(request.config.cni_version, "0.3.1");
    }
}
