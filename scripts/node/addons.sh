#!/usr/bin/env bash
# CoreDNS and metrics-server for the real node, as HOST processes (pods cannot reach the
# apiserver: devenv binds it to 127.0.0.1 and runs no endpoint reconciler). Both listen on the
# node IP (the bridge address, 10.245.0.1 by default) and are published as selector-less Services with a hand-made
# EndpointSlice, so pods and the apiserver reach them through kube-proxy like in a cluster:
#   kube-system/kube-dns        10.96.0.10:53      -> 10.245.0.1:53 (CoreDNS)
#   kube-system/metrics-server  ClusterIP:443      -> 10.245.0.1:<free port> (APIService v1beta1.metrics.k8s.io)
#   default/kubernetes          10.96.0.1:443      -> 10.245.0.1:<free port> (socat -> the apiserver on 127.0.0.1)
# CoreDNS has no `forward`: names outside cluster.local get SERVFAIL, nothing leaves the host.
# Called by start-node.sh when NODE_ADDONS=1 (same environment variables).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NODE_RUN=${NODE_RUN:-${MODELOPS_CLUSTER_DIR:-$REPO/.cluster}/node}
CLUSTER=${MODELOPS_CLUSTER_DIR:-$REPO/.cluster}
NODE_IP=${NODE_IP:-10.245.0.1}
DNS_IP=${DNS_IP:-10.96.0.10}
R=$NODE_RUN
BIN_DIR=${NODE_BIN_DIR:-$(bash "$HERE/build-node.sh" | tail -1)}
B=$BIN_DIR/bin
CP_BIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bin"])' "$CLUSTER/cluster.json")
SERVER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"])' "$CLUSTER/cluster.json")
CA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca"])' "$CLUSTER/cluster.json")
KUBECTL="$CP_BIN/kubectl --kubeconfig $CLUSTER/kubeconfig"
log() { echo "[addons $(date +%H:%M:%S)] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { local name=$1; shift; setsid "$@" >>"$R/logs/$name.log" 2>&1 < /dev/null &
  echo "{\"pid\": $!, \"exe\": \"$1\"}" > "$R/pids/$name.pid"; }
mkkubeconfig() {
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
MS_PORT=$(free_port)
command -v socat >/dev/null || { log "missing socat (apt-get install socat)"; exit 1; }

$KUBECTL apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: modelops-coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "modelops:coredns"}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "modelops:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "modelops:coredns"}
subjects: [{kind: ServiceAccount, name: modelops-coredns, namespace: kube-system}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: modelops-node}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: modelops-metrics-server, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "modelops:metrics-server"}
rules:
- {apiGroups: [""], resources: [nodes/metrics], verbs: [get]}
- {apiGroups: [""], resources: [pods, nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "modelops:metrics-server"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "modelops:metrics-server"}
subjects: [{kind: ServiceAccount, name: modelops-metrics-server, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "modelops:metrics-server:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{kind: ServiceAccount, name: modelops-metrics-server, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "modelops:metrics-server:auth-reader", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: modelops-metrics-server, namespace: kube-system}]
---
# devenv's apiserver has no --proxy-client-cert-file, so aggregated requests reach
# metrics-server anonymously: let the anonymous user read metrics (dev cluster only).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "modelops:metrics-anonymous"}
rules:
- {apiGroups: [metrics.k8s.io], resources: [pods, nodes], verbs: [get, list, watch]}
- {nonResourceURLs: ["/apis/metrics.k8s.io", "/apis/metrics.k8s.io/*", "/openapi/*", "/openapi/v2", "/openapi/v3"], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "modelops:metrics-anonymous"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "modelops:metrics-anonymous"}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: "system:anonymous"}]
---
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system, labels: {k8s-app: metrics-server}}
spec:
  ports: [{name: https, port: 443, protocol: TCP, targetPort: $MS_PORT}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: metrics-server, endpointslice.kubernetes.io/managed-by: modelops-node}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
ports: [{name: https, port: $MS_PORT, protocol: TCP}]
EOF

# --- the apiserver for pods (in-cluster config: https://10.96.0.1:443, SAN in devenv's cert) ---
API_PORT=${SERVER##*:}
PROXY_PORT=$(free_port)
start apiserver-proxy "$(command -v socat)" "TCP-LISTEN:$PROXY_PORT,bind=$NODE_IP,fork,reuseaddr" "TCP:127.0.0.1:$API_PORT"
$KUBECTL apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-modelops-node
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: modelops-node}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
ports: [{name: https, port: $PROXY_PORT, protocol: TCP}]
EOF
log "apiserver for pods: Service kubernetes -> $NODE_IP:$PROXY_PORT -> 127.0.0.1:$API_PORT"

# --- CoreDNS ---
mkkubeconfig "$R/etc/coredns.kubeconfig" modelops-coredns
DNS_HEALTH=$(free_port); DNS_READY=$(free_port)
cat > "$R/etc/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:$DNS_HEALTH
    ready 127.0.0.1:$DNS_READY
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $R/etc/coredns.kubeconfig modelops
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
    loadbalance
}
EOF
start coredns "$B/coredns" -conf "$R/etc/Corefile"
end=$((SECONDS+60))
until curl -fsS "http://127.0.0.1:$DNS_READY/ready" >/dev/null 2>&1; do
  [ $SECONDS -lt $end ] || { tail -20 "$R/logs/coredns.log" >&2; log "CoreDNS not ready"; exit 1; }; sleep 0.3; done
log "CoreDNS ready on $NODE_IP:53 (Service $DNS_IP)"

# --- metrics-server ---
mkkubeconfig "$R/etc/metrics-server.kubeconfig" modelops-metrics-server
mkdir -p "$R/metrics-server"
start metrics-server "$B/metrics-server" --secure-port="$MS_PORT" --bind-address="$NODE_IP" \
  --cert-dir="$R/metrics-server" --kubeconfig="$R/etc/metrics-server.kubeconfig" \
  --authentication-kubeconfig="$R/etc/metrics-server.kubeconfig" \
  --authorization-kubeconfig="$R/etc/metrics-server.kubeconfig" \
  --kubelet-insecure-tls --kubelet-preferred-address-types=InternalIP --metric-resolution=15s \
  --kubelet-use-node-status-port --node-selector="kubernetes.io/hostname=${NODE_NAME:-modelops-node}"
# ^ only this node: devenv's kwok nodes advertise InternalIP 10.0.0.1, which is NOT on this
#   machine (routed out of eth0); without the selector metrics-server scrapes it every 15 s.
$KUBECTL apply -f - >/dev/null <<EOF
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: {name: metrics-server, namespace: kube-system, port: 443}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
EOF
log "metrics-server on $NODE_IP:$MS_PORT, APIService v1beta1.metrics.k8s.io registered"
