//! Address leases: one file per leased address in the network's data folder, created
//! with `O_EXCL`, so concurrent ADDs never hand out the same address and no lock is held.

use crate::errors::CniError;
use crate::request::Pods;
use fs_err::os::unix::fs::OpenOptionsExt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::DirBuilderExt;

/// The address leased to this pod's interface, a new one if it has none yet.
pub(crate) fn lease(pods: &Pods, container_id: &str, ifname: &str) -> Result<Ipv4Addr, CniError> {
    if let Some(address) = leased(pods, container_id, ifname)? {
        return Ok(address);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&pods.data_dir)
        .map_err(|error| CniError::Leases(pods.data_dir.clone(), error))?;
    let network = u32::from(pods.network);
    let hosts = (1_u32 << (32 - u32::from(pods.prefix))) - 1;
    for host in 1..hosts {
        let address = Ipv4Addr::from(network + host);
        let path = pods.data_dir.join(address.to_string());
        let created = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match created {
            Ok(mut file) => {
                file.write_all(owner(container_id, ifname).as_bytes())
                    .map_err(|error| CniError::Leases(path, error))?;
                return Ok(address);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(CniError::Leases(path, error)),
        }
    }
    Err(CniError::Exhausted(format!(
        "{}/{}",
        pods.network, pods.prefix
    )))
}

/// The address this pod's interface holds, if any.
pub(crate) fn leased(
    pods: &Pods,
    container_id: &str,
    ifname: &str,
) -> Result<Option<Ipv4Addr>, CniError> {
    Ok(leases_of(pods, container_id, ifname)?.into_iter().next())
}

/// Frees every address this pod's interface holds; freeing nothing is fine.
pub(crate) fn release(pods: &Pods, container_id: &str, ifname: &str) -> Result<(), CniError> {
    for address in leases_of(pods, container_id, ifname)? {
        let path = pods.data_dir.join(address.to_string());
        match fs_err::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(CniError::Leases(path, error)),
        }
    }
    Ok(())
}

fn leases_of(pods: &Pods, container_id: &str, ifname: &str) -> Result<Vec<Ipv4Addr>, CniError> {
    let entries = match std::fs::read_dir(&pods.data_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(CniError::Leases(pods.data_dir.clone(), error)),
    };
    let wanted = owner(container_id, ifname);
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| CniError::Leases(pods.data_dir.clone(), error))?;
        let Some(address) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        // A lease being written right now reads as empty: it is someone else's.
        if std::fs::read_to_string(entry.path()).is_ok_and(|text| text == wanted) {
            found.push(address);
        }
    }
    Ok(found)
}

fn owner(container_id: &str, ifname: &str) -> String {
    format!("{container_id} {ifname}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(dir: &std::path::Path, prefix: u8) -> Pods {
        Pods {
            network: Ipv4Addr::new(198, 18, 1, 0),
            prefix,
            data_dir: dir.join("leases"),
        }
    }

    #[test]
    fn each_pod_gets_its_own_address_and_keeps_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pods = pods(dir.path(), 24);
        let first = lease(&pods, "a", "eth0").expect("lease");
        let second = lease(&pods, "b", "eth0").expect("lease");
        assert_eq!(first, Ipv4Addr::new(198, 18, 1, 1));
        assert_eq!(second, Ipv4Addr::new(198, 18, 1, 2));
        assert_eq!(
            lease(&pods, "a", "eth0").expect("again"),
            first,
            "ADD is idempotent"
        );
        assert_eq!(leased(&pods, "b", "eth0").expect("reads"), Some(second));
        release(&pods, "a", "eth0").expect("release");
        release(&pods, "a", "eth0").expect("releasing twice is fine");
        assert_eq!(leased(&pods, "a", "eth0").expect("reads"), None);
        assert_eq!(lease(&pods, "c", "eth0").expect("reuses"), first);
    }

    #[test]
    fn a_full_subnet_says_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pods = pods(dir.path(), 30);
        lease(&pods, "a", "eth0").expect("first");
        lease(&pods, "b", "eth0").expect("second");
        assert!(matches!(
            lease(&pods, "c", "eth0"),
            Err(CniError::Exhausted(_))
        ));
    }
}
