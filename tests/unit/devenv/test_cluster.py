"""devenv.cluster: the pieces that need no running control plane."""

from __future__ import annotations

from pathlib import Path

from devenv import cluster


def test_node_manifest_is_managed_by_kwok() -> None:
    node = cluster.node_manifest("kwok-node-0")
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    # Room for the scale benchmark's thousand pods (250m CPU each) on the two nodes.
    allocatable = node["status"]["allocatable"]
    assert int(allocatable["pods"]) >= 1000
    assert int(allocatable["cpu"]) * 1000 >= 1000 * 250 / 2


def test_no_cluster_is_running_in_an_empty_state_dir(tmp_path: Path) -> None:
    assert not cluster.cluster_running(tmp_path)
    cluster.cluster_down(tmp_path, quiet=True)  # stopping nothing is not an error
    assert not (tmp_path / "cluster.json").exists()
