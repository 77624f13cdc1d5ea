#!/usr/bin/env bash
# Adds a REAL kubelet node (containerd 2.x + runc, CNI bridge, kube-proxy iptables) to the
# devenv control plane (`python3 -m devenv cluster-up`). Root only.
#
#   NODE_RUN=.cluster/node scripts/node/start-node.sh      # node + kube-proxy
#   NODE_ADDONS=1 ...                                              # + CoreDNS, metrics-server
#
# Every process is started in its own session and recorded in $NODE_RUN/pids/NAME.pid
# (pid + executable); stop-node.sh stops them by pid and removes everything this made.
# All traffic stays on this machine: the node IP is the CNI bridge's own address (10.245.0.1),
# pods get no masquerade, and a guard chain drops anything a pod sends out of the bridge.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NODE_RUN=${NODE_RUN:-${MODELOPS_CLUSTER_DIR:-$REPO/.cluster}/node}
CLUSTER=${MODELOPS_CLUSTER_DIR:-$REPO/.cluster}
NODE_NAME=${NODE_NAME:-modelops-node}
# Not 10.244.x: devenv's kwok hands out fake pod IPs from 10.244.0.0/16 (kwok.yaml cidr).
POD_CIDR=${POD_CIDR:-10.245.0.0/24}
NODE_IP=${NODE_IP:-10.245.0.1}          # gateway of POD_CIDR, on the bridge
BRIDGE=${BRIDGE:-cni0}
SERVICE_CIDR=10.96.0.0/16               # devenv.py's --service-cluster-ip-range
DNS_IP=${DNS_IP:-10.96.0.10}
NODE_ADDONS=${NODE_ADDONS:-0}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}

T0=$(date +%s.%N)
log() { printf '[start-node %s +%5.1fs] %s\n' "$(date +%H:%M:%S)" "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in "$RUNC" iptables ip bc python3; do command -v "$t" >/dev/null || die "missing $t (apt-get install runc iptables iproute2 bc)"; done
[ -f "$CLUSTER/cluster.json" ] || die "no control plane in $CLUSTER: python3 -m devenv cluster-up"

BIN_DIR=${NODE_BIN_DIR:-$(bash "$HERE/build-node.sh" | tail -1)}
B=$BIN_DIR/bin
export PATH="$B:$PATH"
CP_BIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bin"])' "$CLUSTER/cluster.json")
SERVER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"])' "$CLUSTER/cluster.json")
CA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca"])' "$CLUSTER/cluster.json")
KUBECTL="$CP_BIN/kubectl --kubeconfig $CLUSTER/kubeconfig"

mkdir -p "$NODE_RUN"/{pids,logs,etc,cni/net.d,cni/networks,containerd,kubelet,pod-logs}
R=$NODE_RUN
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start NAME ARGV...: own session, pid file with the executable beside the pid
start() {
  local name=$1; shift
  setsid "$@" >>"$R/logs/$name.log" 2>&1 < /dev/null &
  echo "{\"pid\": $!, \"exe\": \"$1\"}" > "$R/pids/$name.pid"
}
alive() { local f="$R/pids/$1.pid"; [ -f "$f" ] || return 1
  local pid; pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$f")
  [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status"; }
wait_for() { # wait_for SECONDS DESCRIPTION PROCNAME COMMAND...
  local secs=$1 what=$2 proc=$3; shift 3; local end=$((SECONDS+secs))
  until "$@" >/dev/null 2>&1; do
    [ -z "$proc" ] || alive "$proc" || { tail -20 "$R/logs/$proc.log" >&2; die "$proc exited while waiting for $what"; }
    [ $SECONDS -lt $end ] || { [ -z "$proc" ] || tail -20 "$R/logs/$proc.log" >&2; die "timeout waiting for $what"; }
    sleep 0.2
  done
}
for p in containerd kubelet kube-proxy coredns metrics-server apiserver-proxy; do alive $p && die "$p already running (pid file $R/pids/$p.pid): run stop-node.sh first"; done

# --- host networking: remembered so stop-node.sh puts it back -----------------------------
if [ ! -f "$R/sysctl.orig" ]; then
  for k in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.route_localnet; do
    echo "$k=$(sysctl -n $k)"; done > "$R/sysctl.orig"
fi
# Fixed host paths kubelet/containerd/CNI create whatever their config says, and nft tables
# that iptables-nft creates: stop-node.sh removes those that did not exist before (if empty).
if [ ! -f "$R/host.orig" ]; then
  { for d in /run/containerd /var/lib/cni /var/lib/kubelet /var/log/containers /var/log/pods; do
      [ -e "$d" ] && echo "dir $d"; done
    command -v nft >/dev/null && nft list tables 2>/dev/null | sed 's/^table /nft /'; } > "$R/host.orig" || true
fi
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
# The bridge exists before any pod so that the node IP (kubelet, kube-proxy, CoreDNS) does.
ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
ip addr show dev "$BRIDGE" | grep -q " $NODE_IP/" || ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
ip link set "$BRIDGE" up
# Guard: a pod may talk to pods, Services (DNAT'd back onto the bridge) and this host, never
# beyond it. First rule of FORWARD; re-inserted after kube-proxy adds its own jumps.
# Second guard, for the host itself: never dial what devenv's kwok fakes, the nodes'
# InternalIP (10.0.0.1) and the pod IPs (10.244.0.0/16), both routed out of eth0. A Service
# selecting kwok pods gets their IPs as endpoints (kube-proxy DNATs to them), metrics-server
# and the apiserver's logs/exec proxy dial node IPs.
KWOK_IP=$(sed -n 's/^ *nodeIP: *//p' "$CLUSTER/kwok.yaml" 2>/dev/null | head -1)
KWOK_CIDR=$(sed -n 's/^ *cidr: *//p' "$CLUSTER/kwok.yaml" 2>/dev/null | head -1)
guard() {
  iptables -N MODELOPS-NODE-GUARD 2>/dev/null || iptables -F MODELOPS-NODE-GUARD
  iptables -A MODELOPS-NODE-GUARD -s "$POD_CIDR" ! -o "$BRIDGE" -j DROP
  iptables -A MODELOPS-NODE-GUARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
  while iptables -D FORWARD -j MODELOPS-NODE-GUARD 2>/dev/null; do :; done
  iptables -I FORWARD 1 -j MODELOPS-NODE-GUARD
  iptables -N MODELOPS-NODE-OUT 2>/dev/null || iptables -F MODELOPS-NODE-OUT
  for d in $KWOK_IP $KWOK_CIDR; do iptables -A MODELOPS-NODE-OUT -d "$d" ! -o "$BRIDGE" -j REJECT; done
  while iptables -D OUTPUT -j MODELOPS-NODE-OUT 2>/dev/null; do :; done
  iptables -I OUTPUT 1 -j MODELOPS-NODE-OUT
}
guard
log "bridge $BRIDGE $NODE_IP/${POD_CIDR#*/}, ip_forward=1, guard chains in FORWARD and OUTPUT"

# The apiserver dials a kubelet by its Hostname address first (default
# --kubelet-preferred-address-types), i.e. "$NODE_NAME": without this line that is a DNS query
# to the host's upstream resolver ("lookup modelops-node on 10.255.255.53:53: no such host").
# Removed by stop-node.sh (marker comment). devenv could pass
# --kubelet-preferred-address-types=InternalIP instead.
grep -q " # modelops-node-hosts$" /etc/hosts 2>/dev/null \
  || echo "$NODE_IP $NODE_NAME # modelops-node-hosts" >> /etc/hosts

# --- CNI --------------------------------------------------------------------------------
cat > "$R/cni/net.d/10-modelops.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "modelops-pod-net",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$R/cni/networks",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": false}
  ]
}
EOF

# --- containerd -------------------------------------------------------------------------
SOCK=$R/containerd/containerd.sock
cat > "$R/etc/containerd.toml" <<EOF
version = 4
root = "$R/containerd/root"
state = "$R/containerd/state"
imports = []
[debug]
  level = "info"
[plugins]
  # version 4: the servers are plugins (version 3's [grpc]/[ttrpc]/[debug]/[metrics] are migrated)
  [plugins.'io.containerd.server.v1.grpc']
    address = "$SOCK"
  [plugins.'io.containerd.server.v1.ttrpc']
    address = "$SOCK.ttrpc"
  [plugins.'io.containerd.server.v1.debug']
    address = ""
  [plugins.'io.containerd.server.v1.metrics']
    address = ""
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    # no registry is reachable: pods use imagePullPolicy Never/IfNotPresent on imported images
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "localhost/modelops/pause:3.10"
  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    disable_apparmor = true
    # sandbox-forced: no CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj (kubelet asks
    # -998 for the pause container, -997 for Guaranteed pods): clamp to containerd's own value
    restrict_oom_score_adj = true
    # host has no hugetlb controller (cgroup v1 hybrid)
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "$RUNC"
          Root = "$R/containerd/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["$BIN_DIR/cni"]
      conf_dir = "$R/cni/net.d"
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
EOF
# containerd (and so the shims, runc and every container, which inherit it when the CRI spec
# carries no rlimits) keeps the sandbox's NOFILE limit: hard 20000.
start containerd "$B/containerd" --config "$R/etc/containerd.toml"
wait_for 30 "containerd socket" containerd ctr -a "$SOCK" version
log "containerd up"
for img in pause busybox; do
  ctr -a "$SOCK" -n k8s.io images import "$BIN_DIR/images/$img.tar" >/dev/null
done
log "images imported: $(ctr -a "$SOCK" -n k8s.io images ls -q | grep modelops | tr '\n' ' ')"

# --- credentials: service-account tokens (devenv's apiserver has token auth, no client CA) -
$KUBECTL apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: modelops-node, namespace: kube-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: modelops-kube-proxy, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "modelops:node"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node"}
subjects: [{kind: ServiceAccount, name: modelops-node, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "modelops:node-proxier"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node-proxier"}
subjects: [{kind: ServiceAccount, name: modelops-kube-proxy, namespace: kube-system}]
EOF
mkkubeconfig() { # mkkubeconfig FILE SA
  local tok; tok=$($KUBECTL -n kube-system create token "$2" --duration=720h)
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: modelops, cluster: {server: "$SERVER", certificate-authority: "$CA"}}]
users: [{name: $2, user: {token: "$tok"}}]
contexts: [{name: modelops, context: {cluster: modelops, user: $2}}]
current-context: modelops
EOF
  chmod 600 "$1"
}
mkkubeconfig "$R/etc/kubelet.kubeconfig" modelops-node
mkkubeconfig "$R/etc/kube-proxy.kubeconfig" modelops-kube-proxy

# --- kubelet ----------------------------------------------------------------------------
# Pods get this resolv.conf for dnsPolicy Default: no upstream server, so no traffic leaves.
printf 'nameserver 127.0.0.1\noptions ndots:1\n' > "$R/etc/resolv.conf"
KUBELET_PORT=$(free_port); KUBELET_HEALTHZ=$(free_port)
cat > "$R/etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# sandbox-forced: cgroup v1 hybrid host, no systemd as PID 1
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://$SOCK
imageServiceEndpoint: unix://$SOCK
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ
authentication:
  # devenv's apiserver presents no client certificate to kubelets (no
  # --kubelet-client-certificate), so logs/exec/metrics reach the kubelet anonymously.
  anonymous: {enabled: true}
  webhook: {enabled: true}
  x509: {clientCAFile: "$CA"}
authorization: {mode: AlwaysAllow}
podLogsDir: $R/pod-logs
resolvConf: $R/etc/resolv.conf
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
failSwapOn: false
# sandbox-forced: hard NOFILE is 20000 and there is no CAP_SYS_RESOURCE; the default
# (1000000) only logs "Failed to set rlimit on max file handles"
maxOpenFiles: 20000
# a busy dev disk must not evict: only a nearly full disk or memory does
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%", imagefs.inodesFree: "1%"}
# images are imported, never pulled: image GC off (100 disables it)
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
podCIDR: $POD_CIDR
rotateCertificates: false
serverTLSBootstrap: false
protectKernelDefaults: false
nodeStatusUpdateFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 20s
EOF
start kubelet "$B/kubelet" --config="$R/etc/kubelet.yaml" --kubeconfig="$R/etc/kubelet.kubeconfig" \
  --root-dir="$R/kubelet" --cert-dir="$R/kubelet/pki" --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" --node-labels=modelops.dev/node=real --v=1
T_KUBELET=$(date +%s.%N)
node_ready() { [ "$($KUBECTL get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for 120 "node $NODE_NAME Ready" kubelet node_ready
READY_S=$(echo "$(date +%s.%N) - $T_KUBELET" | bc)
log "node $NODE_NAME Ready ${READY_S}s after kubelet start"
echo "$(date -u +%FT%TZ) node-ready-after-kubelet-start ${READY_S}s" >> "$R/timings.txt"

# --- kube-proxy (iptables) --------------------------------------------------------------
cat > "$R/etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$R/etc/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:$(free_port)
metricsBindAddress: 127.0.0.1:$(free_port)
nodePortAddresses: ["$NODE_IP/32"]
# leave the host's conntrack sysctls alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false, masqueradeAll: false, syncPeriod: 10s, minSyncPeriod: 1s}
EOF
start kube-proxy "$B/kube-proxy" --config="$R/etc/kube-proxy.yaml" --v=1
proxy_synced() { iptables -t nat -S KUBE-SERVICES >/dev/null 2>&1; }
wait_for 60 "kube-proxy rules" kube-proxy proxy_synced
guard
log "kube-proxy programmed iptables (KUBE-SERVICES)"

if [ "$NODE_ADDONS" = 1 ]; then
  bash "$HERE/addons.sh"
fi
log "done: node $NODE_NAME ($NODE_IP), run dir $R; kubectl --kubeconfig $CLUSTER/kubeconfig get pods -A"
