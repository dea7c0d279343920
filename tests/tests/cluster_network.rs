//! The CI cluster's own promise, checked from inside a pod: the CNI plugin
//! (`cluster/cni`) gives each pod an address and no route, so nothing a pod sends leaves
//! it — not to the node (kubelet, API server, registry), not off the machine. The probe
//! runs plain Python in the stack's run image, without jobwrap's runner and its sandbox,
//! so only the network holds it back.

use jobwrap_integration_tests::{kubectl, push_to_cluster, require_cluster};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "jobwrap-tests-network";
const RUN_IMAGE: &str = "jobwrap/stack-run:bookworm";

/// Tries each address and prints `address errno-name` per line.
const PROBE: &str = r#"
import errno, socket
for host, port in [("198.18.0.1", 10250), ("127.0.0.1", 6443), ("198.18.0.1", 6443),
                   ("127.0.0.1", 5000), ("10.0.0.1", 80), ("1.1.1.1", 443)]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
        result = "CONNECTED"
    except OSError as error:
        result = errno.errorcode.get(error.errno, str(error))
    print(f"{host}:{port} {result}", flush=True)
print("addresses", open("/proc/net/fib_trie").read().count("/32 host LOCAL"))
print("routes", len(open("/proc/net/route").read().splitlines()) - 1)
"#;

#[test]
fn a_pod_reaches_nothing_but_itself() {
    require_cluster(NAMESPACE);
    let image = push_to_cluster(RUN_IMAGE, "jobwrap-test/stack-run:bookworm");
    let pod = format!(
        r#"{{"apiVersion": "v1", "kind": "Pod",
            "metadata": {{"name": "probe", "namespace": "{NAMESPACE}"}},
            "spec": {{"restartPolicy": "Never", "automountServiceAccountToken": false,
              "securityContext": {{"runAsNonRoot": true, "seccompProfile": {{"type": "RuntimeDefault"}}}},
              "containers": [{{"name": "probe", "image": "{image}",
                "command": ["python3", "-c", {probe}],
                "securityContext": {{"allowPrivilegeEscalation": false, "capabilities": {{"drop": ["ALL"]}}}}}}]}}}}"#,
        probe = serde_json::Value::from(PROBE)
    );
    let _ = kubectl(&["delete", "pod", "probe", "-n", NAMESPACE, "--wait"], None);
    let (created, _, stderr) = kubectl(&["create", "-f", "-"], Some(&pod));
    assert!(created, "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let phase = loop {
        let (_, phase, _) = kubectl(
            &[
                "get",
                "pod",
                "probe",
                "-n",
                NAMESPACE,
                "-o",
                "jsonpath={.status.phase}",
            ],
            None,
        );
        if phase == "Succeeded" || phase == "Failed" {
            break phase;
        }
        assert!(
            Instant::now() < deadline,
            "the probe did not finish ({phase})"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let (_, log, _) = kubectl(&["logs", "probe", "-n", NAMESPACE], None);
    let _ = kubectl(&["delete", "pod", "probe", "-n", NAMESPACE, "--wait"], None);
    assert_eq!(phase, "Succeeded", "{log}");
    let probes: Vec<&str> = log.lines().filter(|line| line.contains(':')).collect();
    assert_eq!(probes.len(), 6, "every address was tried:\n{log}");
    for line in probes {
        assert!(
            line.ends_with("ENETUNREACH") || line.ends_with("ECONNREFUSED"),
            "the pod got somewhere: {line}\n{log}"
        );
        // The pod's own loopback is all there is: the node's ports are not on it.
        assert!(!line.ends_with("CONNECTED"), "{line}");
    }
    assert!(log.contains("routes 0"), "the pod has a route:\n{log}");
}
