#!/usr/bin/env bash
# Stops what start-node.sh started and removes every trace: processes (by pid file, and the
# shims/containers of OUR containerd only), mounts under the run dir, the bridge and veths,
# KUBE-*/CNI-*/MODELOPS-* iptables chains, kubepods cgroups, sysctls, the run dir.
# Exits non-zero if anything is left behind (the check at the end lists it).
#   NODE_RUN=.cluster/node scripts/node/stop-node.sh [--keep-run-dir]
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NODE_RUN=${NODE_RUN:-${MODELOPS_CLUSTER_DIR:-$REPO/.cluster}/node}
CLUSTER=${MODELOPS_CLUSTER_DIR:-$REPO/.cluster}
NODE_NAME=${NODE_NAME:-modelops-node}
BRIDGE=${BRIDGE:-cni0}
R=$NODE_RUN
KEEP=0; [ "${1:-}" = --keep-run-dir ] && KEEP=1
log() { echo "[stop-node $(date +%H:%M:%S)] $*" >&2; }
[ "$(id -u)" = 0 ] || { log "run as root"; exit 1; }

pid_of() { # pid from the pid file if that process still runs the recorded executable
  local f="$R/pids/$1.pid"; [ -f "$f" ] || return 1
  python3 - "$f" <<'EOF'
import json, os, sys
rec = json.load(open(sys.argv[1])); pid = rec["pid"]
try:
    exe = os.readlink(f"/proc/{pid}/exe")
    state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
except OSError:
    sys.exit(1)
if state == "Z" or os.path.basename(exe) != os.path.basename(rec["exe"]):
    sys.exit(1)
print(pid)
EOF
}
stop_proc() {
  local name=$1 pid i
  pid=$(pid_of "$name") || { rm -f "$R/pids/$name.pid"; return 0; }
  # started by setsid: the pid leads its own process group (socat's per-connection children)
  local tgt=$pid; [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] && tgt=-$pid
  kill -TERM -- "$tgt" 2>/dev/null
  for i in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  [ -d "/proc/$pid" ] && { log "$name ($pid) ignored SIGTERM: SIGKILL"; kill -KILL -- "$tgt"; sleep 0.2; }
  rm -f "$R/pids/$name.pid"; log "stopped $name ($pid)"
}

BIN_DIR=${NODE_BIN_DIR:-}
if [ -z "$BIN_DIR" ] && [ -f "$R/etc/containerd.toml" ]; then
  BIN_DIR=$(sed -n 's#^ *bin_dirs = \["\(.*\)/cni"\]#\1#p' "$R/etc/containerd.toml")
fi
B=$BIN_DIR/bin
SOCK=$R/containerd/containerd.sock

# independent of each other: stopped in parallel (each takes ~2 s to exit on SIGTERM)
# (every pid file but containerd's: addons, and devenv's hops publishing host services to pods)
for f in "$R"/pids/*.pid; do
  [ -e "$f" ] || continue; p=$(basename "$f" .pid); [ "$p" = containerd ] || stop_proc "$p" &
done; wait

# Pods: with containerd still up, so the CNI DEL of each sandbox removes its veth and IP.
if pid_of containerd >/dev/null && [ -x "$B/crictl" ]; then
  timeout 60 "$B/crictl" -r "unix://$SOCK" -i "unix://$SOCK" rmp -af >/dev/null 2>&1 \
    && log "removed all pod sandboxes" || log "crictl rmp -af failed (continuing)"
  for ns in $("$B/ctr" -a "$SOCK" namespaces ls -q 2>/dev/null); do
    for t in $("$B/ctr" -a "$SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
      "$B/ctr" -a "$SOCK" -n "$ns" tasks kill -s KILL "$t" >/dev/null 2>&1
      sleep 0.3; "$B/ctr" -a "$SOCK" -n "$ns" tasks rm -f "$t" >/dev/null 2>&1
    done
  done
fi
stop_proc containerd

# Shims of THIS containerd (their command line names our socket) and anything left in the
# kubepods cgroups (containers of this node only).
for pid in $(pgrep -f -- "-address $SOCK" 2>/dev/null); do
  [ "$(basename "$(readlink /proc/$pid/exe 2>/dev/null)")" = containerd-shim-runc-v2 ] && { log "killing shim $pid"; kill -KILL "$pid"; }
done
for c in /sys/fs/cgroup/*/kubepods; do
  [ -d "$c" ] || continue
  for pid in $(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
    log "killing leftover container process $pid ($(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null | cut -c1-60))"; kill -KILL "$pid" 2>/dev/null
  done
done
sleep 0.3

# kube-proxy's own cleanup, then any KUBE-*/CNI-* chain still there, and our guard chain.
[ -x "$B/kube-proxy" ] && "$B/kube-proxy" --cleanup >/dev/null 2>&1 && log "kube-proxy --cleanup done"
for ipt in iptables ip6tables; do
  command -v $ipt >/dev/null || continue
  for t in filter nat mangle raw; do
    $ipt -t $t -S 2>/dev/null | grep -E -- '-j (KUBE-|CNI-|MODELOPS-)' | sed 's/^-A /-D /' | while read -r rule; do
      eval "$ipt -t $t $rule" 2>/dev/null; done
    for ch in $($ipt -t $t -S 2>/dev/null | sed -n 's/^-N \(\(KUBE\|CNI\|MODELOPS\)-[^ ]*\).*/\1/p'); do $ipt -t $t -F "$ch" 2>/dev/null; done
    for ch in $($ipt -t $t -S 2>/dev/null | sed -n 's/^-N \(\(KUBE\|CNI\|MODELOPS\)-[^ ]*\).*/\1/p'); do $ipt -t $t -X "$ch" 2>/dev/null; done
  done
done
log "iptables chains removed"

# Mounts under the run dir (rootfs overlays, netns, shm, volumes), deepest first.
for i in 1 2 3; do
  M=$(findmnt -rn -o TARGET | grep -F "$R/" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-)
  [ -n "$M" ] || break
  while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done <<< "$M"
done

# Interfaces: host ends of pod veths on our bridge, then the bridge.
for v in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$v" 2>/dev/null; done
ip link del "$BRIDGE" 2>/dev/null && log "deleted $BRIDGE"

# kubepods cgroups (cgroupfs driver, every v1 hierarchy), deepest first.
for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
  [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# sysctls as they were before start-node.sh
if [ -f "$R/sysctl.orig" ]; then
  while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null; done < "$R/sysctl.orig"
  log "sysctls restored: $(tr '\n' ' ' < "$R/sysctl.orig")"
fi

# /etc/hosts line of start-node.sh (rewritten in place: the file may be a bind mount)
if grep -q " # modelops-node-hosts$" /etc/hosts 2>/dev/null; then
  python3 -c 'import sys; p="/etc/hosts"; l=[x for x in open(p) if not x.rstrip().endswith(" # modelops-node-hosts")]; f=open(p,"r+"); f.write("".join(l)); f.truncate()'
  log "/etc/hosts entry removed"
fi

# Files outside the run dir that containerd/kubelet/CNI write to fixed paths.
find /var/log/containers -maxdepth 1 -type l -lname "$R/*" -delete 2>/dev/null
rm -f /var/lib/cni/results/modelops-pod-net-* /var/lib/cni/results/cni-loopback-* 2>/dev/null  # libcni cache; left when containerd died before CNI DEL
if [ -f "$R/host.orig" ]; then
  for d in /run/containerd /var/lib/cni /var/lib/kubelet /var/log/containers /var/log/pods; do
    grep -qx "dir $d" "$R/host.orig" && continue
    [ -d "$d" ] || continue
    # only sockets (shim sockets, kubelet's device-plugins/kubelet.sock) and empty dirs go
    find "$d" -type s -delete 2>/dev/null; find "$d" -depth -type d -empty -delete 2>/dev/null
    [ -e "$d" ] && log "kept $d (not empty): $(find "$d" | head -3 | tr '\n' ' ')" || log "removed $d (created by the node)"
  done
  # empty nft tables that iptables-nft created for kube-proxy/kubelet/the guard
  if command -v nft >/dev/null; then
    nft list tables 2>/dev/null | sed 's/^table //' | while read -r fam name; do
      grep -qx "nft $fam $name" "$R/host.orig" && continue
      rules=$(nft list table "$fam" "$name" 2>/dev/null | grep -vE '^\s*(table|chain|type|policy|}|$)' | wc -l)
      [ "$rules" = 0 ] && nft delete table "$fam" "$name" 2>/dev/null && log "deleted empty nft table $fam $name"
    done
  fi
fi

# The API objects of this node (only when the control plane is still up).
if [ -f "$CLUSTER/kubeconfig" ]; then
  CP_BIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bin"])' "$CLUSTER/cluster.json" 2>/dev/null)
  K="$CP_BIN/kubectl --kubeconfig $CLUSTER/kubeconfig --request-timeout=5s"
  if $K get --raw /readyz >/dev/null 2>&1; then
    $K delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1
    $K delete clusterrolebinding modelops:node modelops:node-proxier modelops:coredns modelops:metrics-server modelops:metrics-server:auth-delegator modelops:metrics-anonymous --ignore-not-found >/dev/null 2>&1
    $K delete clusterrole modelops:coredns modelops:metrics-server modelops:metrics-anonymous --ignore-not-found >/dev/null 2>&1
    $K delete apiservice v1beta1.metrics.k8s.io --ignore-not-found >/dev/null 2>&1
    $K -n kube-system delete sa modelops-node modelops-kube-proxy modelops-coredns modelops-metrics-server --ignore-not-found >/dev/null 2>&1
    $K -n kube-system delete rolebinding modelops:metrics-server:auth-reader --ignore-not-found >/dev/null 2>&1
    $K -n kube-system delete service kube-dns metrics-server --ignore-not-found >/dev/null 2>&1
    $K -n kube-system delete endpointslice kube-dns-host metrics-server-host --ignore-not-found >/dev/null 2>&1
    $K -n default delete endpointslice kubernetes-modelops-node --ignore-not-found >/dev/null 2>&1
    $K delete namespace modelops-dev --ignore-not-found --wait=false >/dev/null 2>&1
    log "node object and RBAC removed from the control plane"
  fi
fi

[ $KEEP = 1 ] || { rm -rf "$R"; log "removed $R"; }

# --- check: nothing of ours left -----------------------------------------------------------
bad=0
p=$(pgrep -f -- "$R/" 2>/dev/null | grep -vx "$$" || true)
[ -n "$p" ] && { log "LEFT: processes $p"; bad=1; }
# Only mounts under our run dir: another checkout's node on this machine is not ours to judge.
m=$(findmnt -rn -o TARGET | grep -F "$R/" || true)
[ -n "$m" ] && { log "LEFT: mounts:"; echo "$m" >&2; bad=1; }
l=$(ip -o link show | grep -E " ($BRIDGE|veth[^:]*)[:@]" || true)
[ -n "$l" ] && { log "LEFT: links:"; echo "$l" >&2; bad=1; }
r=$( (iptables-save; ip6tables-save) 2>/dev/null | grep -E 'KUBE-|CNI-|MODELOPS-' || true)
[ -n "$r" ] && { log "LEFT: iptables:"; echo "$r" | head -20 >&2; bad=1; }
c=$(ls -d /sys/fs/cgroup/*/kubepods* 2>/dev/null || true)
[ -n "$c" ] && { log "LEFT: cgroups: $c"; bad=1; }
grep -q "modelops-node-hosts" /etc/hosts && { log "LEFT: /etc/hosts entry"; bad=1; }
[ $bad = 0 ] && log "clean: no process, mount, link, iptables rule or cgroup left" || exit 1
