"""The real node: a kubelet with containerd and runc beside the control plane (docs/real-node.md),
the project's images imported into it, and host services published to pods by name."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

from .process import ROOT, STATE, Proc, log

NODE_SCRIPTS = ROOT / "scripts" / "node"
NODE_NAME = "modelops-node"
NODE_IP = "10.245.0.1"
# Where host services (MLflow, Redis, the S3 store) get their in-cluster names.
HOST_SERVICES_NAMESPACE = "modelops-dev"
# kwok's nodes carry this taint: only pods that tolerate it (scale tests, and namespaces that
# ask for it, see SIMULATED_NAMESPACE_ANNOTATIONS) land there; everything else runs for real.
SIMULATED_TAINT = {"key": "modelops.dev/simulated", "value": "true", "effect": "NoSchedule"}
# With the PodNodeSelector and PodTolerationRestriction admission plugins, a namespace carrying
# these puts all its pods on the kwok nodes.
SIMULATED_NAMESPACE_ANNOTATIONS = {
    "scheduler.alpha.kubernetes.io/node-selector": "type=kwok",
    "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps(
        [{"key": SIMULATED_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}]
    ),
}
NODE_PROCESSES = ("containerd", "kubelet", "kube-proxy", "coredns", "metrics-server")


def node_dir(state: Path = STATE) -> Path:
    return state / "node"


def _env(state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MODELOPS_CLUSTER_DIR": str(state),
        "NODE_RUN": str(node_dir(state)),
        "NODE_NAME": NODE_NAME,
        "NODE_IP": NODE_IP,
    }


def real_node_wanted() -> bool:
    """The node needs root (network namespaces, iptables, cgroups); MODELOPS_REAL_NODE=0 skips
    it, for a control plane with kwok nodes only."""
    return os.environ.get("MODELOPS_REAL_NODE", "1") != "0" and os.geteuid() == 0


def node_running(state: Path = STATE) -> bool:
    return all(Proc(node_dir(state), p).alive() for p in NODE_PROCESSES)


def node_up(state: Path = STATE) -> None:
    """Start the node (kubelet, containerd, kube-proxy, CoreDNS, metrics-server) and wait until
    it is Ready; build its binaries first when the cache has none."""
    if node_running(state):
        return
    node_down(state)
    t0 = time.monotonic()
    subprocess.run(
        ["bash", str(NODE_SCRIPTS / "start-node.sh")],
        check=True,
        env={**_env(state), "NODE_ADDONS": "1"},
    )
    log(f"real node {NODE_NAME} Ready in {time.monotonic() - t0:.1f}s")


def node_down(state: Path = STATE) -> None:
    """Stop the node and remove every process, mount, interface and rule it made."""
    if not node_dir(state).exists():
        return
    subprocess.run(["bash", str(NODE_SCRIPTS / "stop-node.sh")], check=True, env=_env(state))


def image_archives() -> dict[str, str]:
    """The image references and archive paths `make images` wrote (build-images.sh paths)."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-images.sh"), "paths"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def import_images(state: Path = STATE) -> dict[str, str]:
    """Import the operator and runtime images into the node's containerd (no registry here);
    an archive already imported is skipped. Returns {"runtime": ref, "operator": ref}."""
    paths = image_archives()
    refs = {"runtime": paths["RUNTIME_IMAGE"], "operator": paths["OPERATOR_IMAGE"]}
    done_file = node_dir(state) / "images.imported"
    done = set(done_file.read_text().split()) if done_file.exists() else set()
    ctr = [node_bin(state, "ctr"), "-a", str(node_dir(state) / "containerd" / "containerd.sock")]
    for name in ("runtime", "operator"):
        archive = paths[f"{name.upper()}_ARCHIVE"]
        if not Path(archive).exists():
            raise RuntimeError(f"{archive} is missing: run `make images` first")
        if archive in done:
            continue
        t0 = time.monotonic()
        subprocess.run(
            [*ctr, "-n", "k8s.io", "images", "import", archive],
            check=True,
            capture_output=True,
        )
        done.add(archive)
        log(f"imported {refs[name]} into the node in {time.monotonic() - t0:.1f}s")
    done_file.write_text("\n".join(sorted(done)) + "\n")
    return refs


def node_bin(state: Path, name: str) -> str:
    toml = (node_dir(state) / "etc" / "containerd.toml").read_text()
    for line in toml.splitlines():
        if line.strip().startswith("bin_dirs"):
            cni = json.loads(line.split("=", 1)[1].strip())[0]
            return str(Path(cni).parent / "bin" / name)
    raise RuntimeError("the node's containerd.toml names no bin_dirs")


def publish(
    state: Path,
    name: str,
    port: int,
    kubectl: list[str],
    address: str = NODE_IP,
    namespace: str = HOST_SERVICES_NAMESPACE,
) -> str:
    """Make a host service listening on 127.0.0.1:port reachable from pods as
    `name.<namespace>:port`: a socat hop on `address` (the node IP; for another cluster an
    address of this machine its pods reach; an EndpointSlice may not point at loopback) behind
    a selector-less Service. Returns the in-cluster host name."""
    _hop(state, name, port, address)
    manifests = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "tcp", "port": port, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-host",
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": "modelops-node",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "tcp", "port": port, "protocol": "TCP"}],
        },
    ]
    subprocess.run(
        [*kubectl, "apply", "-f", "-"],
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}),
        check=True,
        capture_output=True,
        text=True,
    )
    return f"{name}.{namespace}"


def _hop(state: Path, name: str, port: int, address: str = NODE_IP) -> str:
    """socat from address:port to 127.0.0.1:port; returns address:port."""
    # Hops to another cluster's pods are named for their address: they live beside the node's.
    suffix = "" if address == NODE_IP else f"@{address}"
    hop = Proc(node_dir(state), f"publish-{name}-{port}{suffix}")
    # A hop of an earlier session, for a port the service no longer listens on.
    for stale in (node_dir(state) / "pids").glob(f"publish-{name}-*.pid"):
        same_address = stale.stem.endswith(suffix) and ("@" in stale.stem) == bool(suffix)
        if stale.stem != hop.name and same_address:
            Proc(node_dir(state), stale.stem).stop()
    if not hop.alive():
        hop.start(
            [
                shutil.which("socat") or "/usr/bin/socat",
                f"TCP-LISTEN:{port},bind={address},fork,reuseaddr",
                f"TCP:127.0.0.1:{port}",
            ]
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
    return f"{address}:{port}"


def node_endpoint(state: Path, name: str, url: str, address: str | None = None) -> str:
    """`url` (http://127.0.0.1:PORT) as an address the host and pods both reach: `address`
    (this machine as another cluster's pods reach it) when given, else the node IP when the
    real node runs, else `url` unchanged. MLflow hands this address out in presigned URLs,
    which clients on either side then fetch."""
    parts = urllib.parse.urlsplit(url)
    if parts.port is None or (address is None and not node_running(state)):
        return url
    return parts._replace(netloc=_hop(state, name, parts.port, address or NODE_IP)).geturl()
