"""devenv.node: the taint that keeps pods off the kwok nodes, and the namespaces that opt in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv import cluster, node


def test_kwok_nodes_carry_the_taint_simulated_namespaces_tolerate() -> None:
    manifest = cluster.node_manifest("kwok-node-0")
    assert manifest["spec"] == {"taints": [node.SIMULATED_TAINT]}
    annotations = node.SIMULATED_NAMESPACE_ANNOTATIONS
    (toleration,) = json.loads(annotations["scheduler.alpha.kubernetes.io/defaultTolerations"])
    assert toleration["key"] == node.SIMULATED_TAINT["key"]
    assert toleration["effect"] == node.SIMULATED_TAINT["effect"]
    # The selector picks the kwok nodes by the label they carry.
    key, value = annotations["scheduler.alpha.kubernetes.io/node-selector"].split("=")
    labels = manifest["metadata"]["labels"]  # type: ignore[index]
    assert labels[key] == value


def test_an_endpoint_stays_on_loopback_without_a_node(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9000"
    assert node.node_endpoint(tmp_path, "s3", url) == url


def test_the_node_needs_root_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node.os, "geteuid", lambda: 0)
    monkeypatch.setenv("MODELOPS_REAL_NODE", "0")
    assert node.real_node_wanted() is False
    monkeypatch.delenv("MODELOPS_REAL_NODE")
    assert node.real_node_wanted() is True
    monkeypatch.setattr(node.os, "geteuid", lambda: 1000)
    assert node.real_node_wanted() is False
