//! What the plugin prints: the CNI result of an ADD, the versions it speaks, errors.

use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::path::Path;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Address {
    Loopback,
    Pod(Ipv4Addr),
}

impl Address {
    fn cidr(self) -> String {
        match self {
            Address::Loopback => "127.0.0.1/8".to_owned(),
            Address::Pod(address) => format!("{address}/32"),
        }
    }
}

/// The result of an ADD: one interface, one address, no routes, no DNS.
pub(crate) struct Reply<'a> {
    pub(crate) interface: &'a str,
    pub(crate) sandbox: &'a Path,
    pub(crate) address: Address,
}

impl Reply<'_> {
    /// The result in the format of the caller's CNI version (0.3.x and 0.4.0 tag each
    /// address with its IP version; 1.0.0 does not).
    pub(crate) fn to_json(&self, version: &str) -> String {
        let mut ip = json!({ "address": self.address.cidr(), "interface": 0 });
        if version.starts_with("0.") {
            ip["version"] = Value::from("4");
        }
        json!({
            "cniVersion": version,
            "interfaces": [{ "name": self.interface, "sandbox": self.sandbox }],
            "ips": [ip],
            "dns": {},
        })
        .to_string()
    }
}

pub(crate) fn versions(supported: &[&str]) -> String {
    json!({ "cniVersion": "1.0.0", "supportedVersions": supported }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_follow_the_callers_version() {
        let reply = Reply {
            interface: "eth0",
            sandbox: Path::new("/var/run/netns/cni-1"),
            address: Address::Pod(Ipv4Addr::new(198, 18, 1, 7)),
        };
        let new: Value = serde_json::from_str(&reply.to_json("1.0.0")).expect("json");
        assert_eq!(
            new["ips"],
            json!([{ "address": "198.18.1.7/32", "interface": 0 }])
        );
        assert_eq!(new["interfaces"][0]["sandbox"], "/var/run/netns/cni-1");
        assert!(new.get("routes").is_none(), "no routes, ever");
        let old: Value = serde_json::from_str(&reply.to_json("0.3.1")).expect("json");
        assert_eq!(old["ips"][0]["version"], "4");
    }
}
