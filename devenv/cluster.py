"""The local control plane: etcd, kube-apiserver, controller manager, scheduler, kwok nodes."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

from .node import SIMULATED_TAINT, node_down, node_up, real_node_wanted
from .process import ROOT, STATE, Proc, free_port, log, private_dir, wait_http, write_private

BUILD_SCRIPT = ROOT / "scripts" / "build-control-plane.sh"
NODE_NAMES = ("kwok-node-0", "kwok-node-1")
CLUSTER_COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)


def build_binaries() -> Path:
    """Build (or reuse from cache) the control-plane binaries; returns their directory."""
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return Path(out.strip().splitlines()[-1])


def cluster_running(state: Path = STATE) -> bool:
    info = state / "cluster.json"
    if not info.exists():
        return False
    if not all(Proc(state, c).alive() for c in CLUSTER_COMPONENTS):
        return False
    meta = json.loads(info.read_text())
    try:
        wait_http(
            f"{meta['server']}/readyz",
            3,
            token=meta["token"],
            cafile=Path(meta["ca"]),
        )
    except (TimeoutError, RuntimeError):
        return False
    return True


def kubectl(state: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        [str(state / "bin" / "kubectl"), "--kubeconfig", str(state / "kubeconfig"), *args],
        check=True,
        capture_output=True,
        text=True,
        input=input,
    ).stdout


def node_manifest(name: str) -> dict[str, object]:
    # kwok takes over Nodes carrying its annotation and keeps them Ready with leases.
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "spec": {"taints": [SIMULATED_TAINT]},
        "status": {
            "allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "1100"},
            "capacity": {"cpu": "1000", "memory": "4Ti", "pods": "1100"},
            "nodeInfo": {
                "architecture": "amd64",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "operatingSystem": "linux",
            },
            "phase": "Running",
        },
    }


def _prepare_state(state: Path, bins: Path) -> None:
    # Nothing under the state dir is anyone else's business (tokens, keys, etcd's data).
    private_dir(state)
    for sub in ("etcd", "pki", "logs", "pids"):
        shutil.rmtree(state / sub, ignore_errors=True)
    for sub in ("bin", "pki", "logs", "pids"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    for tool in ("kubectl", "helm"):
        link = state / "bin" / tool
        link.unlink(missing_ok=True)
        link.symlink_to(bins / tool)


# The operator's own identity when run on the host (tests, benchmarks): the apiserver's audit
# log then records its every request apart from kubectl's and the tests' (OPERATOR_AUDIT).
OPERATOR_USER = "modelops-operator"


def _write_credentials(pki: Path) -> tuple[str, str]:
    """The admin and operator bearer tokens (both system:masters) and the service-account
    signing key pair."""
    token, operator_token = secrets.token_hex(24), secrets.token_hex(24)
    write_private(
        pki / "tokens.csv",
        f"{token},modelops-admin,modelops-admin,system:masters\n"
        f"{operator_token},{OPERATOR_USER},{OPERATOR_USER},system:masters\n",
    )
    subprocess.run(
        ["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"], check=True, capture_output=True
    )
    subprocess.run(
        ["openssl", "rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")],
        check=True,
        capture_output=True,
    )
    return token, operator_token


def _start_etcd(state: Path, bins: Path, port: int, peer_port: int) -> None:
    etcd = Proc(state, "etcd")
    etcd.start(
        [
            str(bins / "etcd"),
            f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{port}",
            f"--advertise-client-urls=http://127.0.0.1:{port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            # A throw-away test store: durability only costs time here.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]
    )
    wait_http(f"http://127.0.0.1:{port}/health", 30, proc=etcd)


# What the tests read back from the apiserver's audit log: every request of the operator's own
# identity (what it costs the apiserver, by verb and resource), and every list and watch of the
# kinds the operator follows, with its query (label and field selectors) and user agent. Nothing
# else is logged. A watch is logged when its response starts, not when it ends minutes later.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: [modelops-operator]
  - level: Metadata
    verbs: [list, watch]
    resources:
      - {group: "", resources: [pods, services]}
      - {group: apps, resources: [deployments]}
      - {group: batch, resources: [jobs, cronjobs]}
      - {group: autoscaling, resources: [horizontalpodautoscalers]}
      - {group: policy, resources: [poddisruptionbudgets]}
      - {group: modelops.dev}
  - level: None
"""


def operator_requests(
    audit_log: Path, start: float, end: float = float("inf"), namespace: str | None = None
) -> list[dict[str, object]]:
    """The operator's own requests (OPERATOR_USER) received in [start, end), optionally only
    those about objects in `namespace`, from the audit log and its rotated backups."""
    found: list[dict[str, object]] = []
    for path in (*sorted(audit_log.parent.glob("audit-*.log")), audit_log):
        if not path.exists():
            continue
        with open(path, errors="replace") as lines:
            for line in lines:
                if OPERATOR_USER not in line or (namespace and namespace not in line):
                    continue
                try:
                    entry = json.loads(line.strip("\x00"))
                except json.JSONDecodeError:
                    continue  # a line cut by a rotation
                if entry.get("user", {}).get("username") != OPERATOR_USER:
                    continue
                if namespace and entry.get("objectRef", {}).get("namespace") != namespace:
                    continue
                stamp = entry["requestReceivedTimestamp"].replace("Z", "+00:00")
                if start <= datetime.fromisoformat(stamp).timestamp() < end:
                    found.append(entry)
    return found


def _start_apiserver(state: Path, bins: Path, etcd_port: int, port: int, token: str) -> Path:
    """Start kube-apiserver and wait until it is ready; returns its self-signed CA."""
    pki = state / "pki"
    policy = state / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    server = f"https://127.0.0.1:{port}"
    apiserver = Proc(state, "kube-apiserver")
    apiserver.start(
        [
            str(bins / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # The `kubernetes` Service endpoint may not be loopback; nothing here needs it.
            "--endpoint-reconciler-type=none",
            f"--secure-port={port}",
            f"--cert-dir={pki}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--service-cluster-ip-range=10.96.0.0/16",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            # Namespaces of tests that check only the operator's objects put their pods on the
            # kwok nodes by annotation (devenv.node.SIMULATED_NAMESPACE_ANNOTATIONS).
            "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
            # The real node's name resolves nowhere: logs/exec/metrics go to its InternalIP.
            "--kubelet-preferred-address-types=InternalIP",
            f"--audit-policy-file={policy}",
            f"--audit-log-path={state / 'audit.log'}",
            "--audit-log-maxsize=50",
            "--audit-log-maxbackup=1",
            "--v=1",
        ]
    )
    ca = pki / "apiserver.crt"
    deadline = time.monotonic() + 30
    while not ca.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    wait_http(f"{server}/readyz", 90, token=token, cafile=ca, proc=apiserver)
    return ca


def _write_kubeconfig(
    state: Path, server: str, ca: Path, token: str, user: str = "modelops-admin"
) -> Path:
    kubeconfig = state / ("kubeconfig" if user == "modelops-admin" else f"kubeconfig-{user}")
    write_private(
        kubeconfig,
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: modelops\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\n"
        "users:\n"
        f"- name: {user}\n  user:\n    token: {token}\n"
        "contexts:\n"
        f"- name: modelops\n  context:\n    cluster: modelops\n    user: {user}\n"
        "    namespace: default\n"
        "current-context: modelops\n",
    )
    return kubeconfig


def _start_controllers(state: Path, bins: Path, kubeconfig: Path, ca: Path) -> None:
    pki = state / "pki"
    Proc(state, "kube-controller-manager").start(
        [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={ca}",
            "--use-service-account-credentials=false",
            # Faster than the defaults so tests see GC and HPA decisions within seconds.
            "--horizontal-pod-autoscaler-sync-period=5s",
            "--horizontal-pod-autoscaler-downscale-stabilization=20s",
            # Large clusters raise the client's 20 requests/s default (the scale benchmark
            # creates a thousand Deployments at once; the controllers must not be its bound).
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--node-monitor-grace-period=60s",
            "--v=1",
        ]
    )
    Proc(state, "kube-scheduler").start(
        [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=1",
        ]
    )


def _start_kwok(state: Path, bins: Path, kubeconfig: Path) -> None:
    (state / "kwok.yaml").write_text(
        "apiVersion: config.kwok.x-k8s.io/v1alpha1\n"
        "kind: KwokConfiguration\n"
        "options:\n"
        "  cidr: 10.244.0.0/16\n"
        "  nodeIP: 10.0.0.1\n"
        "  manageAllNodes: false\n"
        "  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake\n"
        "  nodeLeaseDurationSeconds: 40\n"
        # The standalone binary skips the defaulting kwokctl does: zero parallelism is fatal.
        "  nodeLeaseParallelism: 4\n"
        "  podPlayStageParallelism: 4\n"
        "  nodePlayStageParallelism: 4\n"
        "  podsOnNodeSyncParallelism: 4\n"
        "---\n" + (bins / "kwok-stages.yaml").read_text()
    )
    Proc(state, "kwok").start(
        [
            str(bins / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={state / 'kwok.yaml'}",
        ]
    )


def _register_nodes(state: Path) -> None:
    for name in NODE_NAMES:
        kubectl(state, "apply", "-f", "-", input=json.dumps(node_manifest(name)))
    kubectl(
        state,
        "wait",
        "--for=condition=Ready",
        "--timeout=60s",
        *[f"node/{n}" for n in NODE_NAMES],
    )
    # Pods need the namespace's default ServiceAccount, which the controller manager makes.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            kubectl(state, "get", "serviceaccount", "default", "-n", "default")
            break
        except subprocess.CalledProcessError:
            time.sleep(0.3)


def cluster_up(state: Path = STATE) -> dict[str, str]:
    """The control plane, its two tainted kwok nodes and, as root, the real node
    (MODELOPS_REAL_NODE=0 leaves it out)."""
    t0 = time.monotonic()
    if cluster_running(state):
        log(f"control plane already running ({state / 'kubeconfig'})")
        if real_node_wanted():
            node_up(state)
        return json.loads((state / "cluster.json").read_text())
    cluster_down(state, quiet=True)
    bins = build_binaries()
    log(f"binaries from {bins}")
    _prepare_state(state, bins)
    token, operator_token = _write_credentials(state / "pki")
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    _start_etcd(state, bins, etcd_port, peer_port)
    server = f"https://127.0.0.1:{api_port}"
    ca = _start_apiserver(state, bins, etcd_port, api_port, token)
    kubeconfig = _write_kubeconfig(state, server, ca, token)
    operator_kubeconfig = _write_kubeconfig(state, server, ca, operator_token, OPERATOR_USER)
    _start_controllers(state, bins, kubeconfig, ca)
    _start_kwok(state, bins, kubeconfig)
    meta = {
        "server": server,
        "token": token,
        "ca": str(ca),
        "kubeconfig": str(kubeconfig),
        "operator_kubeconfig": str(operator_kubeconfig),
        "bin": str(bins),
        "audit_log": str(state / "audit.log"),
    }
    write_private(state / "cluster.json", json.dumps(meta, indent=2))
    _register_nodes(state)
    log(f"control plane up in {time.monotonic() - t0:.1f}s: {kubeconfig}")
    if real_node_wanted():
        node_up(state)
    return meta


def cluster_down(state: Path = STATE, quiet: bool = False) -> None:
    # The node first: its clean-up deletes its objects while the apiserver still answers.
    node_down(state)
    for name in reversed(CLUSTER_COMPONENTS):
        Proc(state, name).stop()
    (state / "cluster.json").unlink(missing_ok=True)
    if not quiet:
        log("control plane stopped")
