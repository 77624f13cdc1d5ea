"""Restarts of the cluster's and the node's components in place, for the fault tests: each
comes back with the command line and environment it ran with, and is waited for."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from .cluster import CLUSTER_COMPONENTS
from .node import NODE_PROCESSES, node_bin, node_dir
from .process import STATE, Proc, wait_http


def restart(name: str, state: Path = STATE) -> float:
    """Restart `name` (etcd, kube-apiserver, kubelet, containerd, ...) and wait until it serves
    again: the apiserver ready (for etcd and the apiserver), the kubelet's health endpoint,
    containerd's socket. Returns the seconds from the stop to serving."""
    if name in CLUSTER_COMPONENTS:
        proc = Proc(state, name)
    elif name in NODE_PROCESSES:
        proc = Proc(node_dir(state), name)
    else:
        raise ValueError(f"no component {name!r}")
    t0 = time.monotonic()
    proc.restart(ready=lambda: _wait_serving(name, proc, state))
    return time.monotonic() - t0


def _wait_serving(name: str, proc: Proc, state: Path) -> None:
    """Until the restarted `name` serves; ProcessExited if it dies meanwhile."""
    if name in ("etcd", "kube-apiserver"):
        meta = json.loads((state / "cluster.json").read_text())
        wait_http(
            f"{meta['server']}/readyz", 90, token=meta["token"], cafile=Path(meta["ca"]), proc=proc
        )
    elif name == "kubelet":
        wait_http(f"http://127.0.0.1:{_kubelet_healthz_port(state)}/healthz", 60, proc=proc)
    elif name == "containerd":
        sock = node_dir(state) / "containerd" / "containerd.sock"
        deadline = time.monotonic() + 60
        while subprocess.run(
            [node_bin(state, "ctr"), "-a", str(sock), "version"], capture_output=True
        ).returncode:
            proc.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"containerd did not answer on {sock} after its restart")
            time.sleep(0.2)


def _kubelet_healthz_port(state: Path) -> int:
    for line in (node_dir(state) / "etc" / "kubelet.yaml").read_text().splitlines():
        if line.startswith("healthzPort:"):
            return int(line.split(":", 1)[1])
    raise RuntimeError("the node's kubelet.yaml names no healthzPort")
