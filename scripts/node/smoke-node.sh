#!/usr/bin/env bash
# Smoke test of the real node: a busybox httpd pod from the locally made image, its pod IP
# from the host, a ClusterIP Service from the host and from another pod, and (with addons)
# the Service name through CoreDNS and `kubectl top`. Prints timings; exits non-zero on failure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NODE_RUN=${NODE_RUN:-${MODELOPS_CLUSTER_DIR:-$REPO/.cluster}/node}
CLUSTER=${MODELOPS_CLUSTER_DIR:-$REPO/.cluster}
NODE_NAME=${NODE_NAME:-modelops-node}
NS=${SMOKE_NS:-node-smoke}
CP_BIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bin"])' "$CLUSTER/cluster.json")
K="$CP_BIN/kubectl --kubeconfig $CLUSTER/kubeconfig"
log() { echo "[smoke $(date +%H:%M:%S)] $*" >&2; }
ms() { date +%s%3N; }

$K create namespace "$NS" --dry-run=client -o yaml | $K apply -f - >/dev/null
# The default ServiceAccount is made by the controller-manager; pods wait for it.
for i in $(seq 1 50); do $K -n "$NS" get sa default >/dev/null 2>&1 && break; sleep 0.2; done
t0=$(ms)
$K -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: $NODE_NAME
  automountServiceAccountToken: false
  # httpd is PID 1 and has no SIGTERM handler: without this a delete waits the full 30 s
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: localhost/modelops/busybox:1
    imagePullPolicy: Never
    command: [httpd, -f, -v, -p, "8080", -h, /www]
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
$K -n "$NS" wait pod/web --for=condition=Ready --timeout=120s >/dev/null
t1=$(ms); log "pod web Ready after $((t1-t0)) ms"
IP=$($K -n "$NS" get pod web -o jsonpath='{.status.podIP}')
out=$(curl -fsS --max-time 5 "http://$IP:8080/"); log "host -> pod $IP:8080: $out"
SVC=$($K -n "$NS" get svc web -o jsonpath='{.spec.clusterIP}')
for i in $(seq 1 50); do curl -fsS --max-time 2 "http://$SVC/" >/dev/null 2>&1 && break; sleep 0.2; done
out=$(curl -fsS --max-time 5 "http://$SVC/"); log "host -> Service $SVC:80: $out"

t0=$(ms)
$K -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: $NODE_NAME
  terminationGracePeriodSeconds: 1
  containers:
  - {name: sh, image: localhost/modelops/busybox:1, imagePullPolicy: Never, command: [sleep, "3600"]}
EOF
$K -n "$NS" wait pod/client --for=condition=Ready --timeout=120s >/dev/null
log "pod client Ready after $(( $(ms)-t0 )) ms"
out=$($K -n "$NS" exec client -- timeout 5 wget -qO- "http://$SVC/"); log "pod -> Service $SVC:80: $out"
out=$($K -n "$NS" exec client -- timeout 5 wget -qO- "http://$IP:8080/"); log "pod -> pod $IP:8080: $out"
# hairpin: the web pod through its own Service
out=$($K -n "$NS" exec web -- timeout 5 wget -qO- "http://$SVC/"); log "pod -> own Service (hairpin): $out"
$K -n "$NS" exec client -- cat /etc/resolv.conf | tr '\n' ' ' | sed 's/^/[smoke] pod resolv.conf: /' >&2; echo >&2
log "kubectl logs web: $($K -n "$NS" logs web --tail=1 2>&1)"

if [ "${NODE_ADDONS:-0}" = 1 ]; then
  out=$($K -n "$NS" exec client -- nslookup web.$NS.svc.cluster.local 2>&1 | tail -3 | tr '\n' ' '); log "nslookup web.$NS: $out"
  out=$($K -n "$NS" exec client -- timeout 5 wget -qO- "http://web/"); log "pod -> http://web/ (DNS + Service): $out"
  # in-cluster config from a pod: Service kubernetes (10.96.0.1:443) -> socat on the node IP
  # -> apiserver; the static kubectl is copied in (busybox wget's TLS can't talk to Go's server)
  $K -n "$NS" cp "$(readlink -f "$CP_BIN/kubectl")" client:/tmp/kubectl >/dev/null
  out=$($K -n "$NS" exec client -- /tmp/kubectl get --raw /version | tr -d ' \n' | cut -c1-60)
  log "pod -> apiserver (in-cluster config, TLS verified): $out"
  out=$($K -n "$NS" exec client -- /tmp/kubectl auth whoami -o jsonpath='{.status.userInfo.username}')
  log "pod identity: $out"
  for i in $(seq 1 60); do $K top node "$NODE_NAME" >/dev/null 2>&1 && break; sleep 2; done
  log "kubectl top node: $($K top node "$NODE_NAME" --no-headers 2>&1)"
  for i in $(seq 1 30); do $K -n "$NS" top pod web >/dev/null 2>&1 && break; sleep 2; done
  log "kubectl top pod: $($K -n "$NS" top pod --no-headers 2>&1 | tr '\n' ';')"
fi
if [ "${SMOKE_KEEP:-0}" != 1 ]; then
  t0=$(ms); $K delete namespace "$NS" --wait=true --timeout=120s >/dev/null; log "namespace deleted in $(( $(ms)-t0 )) ms"
fi
log "PASS"
