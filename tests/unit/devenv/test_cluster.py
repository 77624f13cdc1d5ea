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


def test_the_operators_requests_are_read_from_the_audit_log_and_its_backups(
    tmp_path: Path,
) -> None:
    import json

    def entry(user: str, ns: str, stamp: str) -> str:
        return json.dumps(
            {
                "user": {"username": user},
                "verb": "get",
                "objectRef": {"resource": "deployments", "namespace": ns},
                "requestReceivedTimestamp": stamp,
            }
        )

    backup, log = tmp_path / "audit-2026-01-01T00-00-00.000.log", tmp_path / "audit.log"
    backup.write_text(entry(cluster.OPERATOR_USER, "a", "2026-01-01T00:00:01.000000Z") + "\n")
    log.write_text(
        "\x00\x00" + entry(cluster.OPERATOR_USER, "b", "2026-01-01T00:00:02.000000Z") + "\n"
        + '{"user": {"username": "modelops-operator"}, "cut'  # cut by a rotation
        + "\n"
        + entry("modelops-admin", "a", "2026-01-01T00:00:03.000000Z") + "\n"
        + entry(cluster.OPERATOR_USER, "a", "2026-01-01T00:00:09.000000Z") + "\n"
    )  # fmt: skip
    t = 1767225600.0  # 2026-01-01T00:00:00Z
    assert [e["objectRef"]["namespace"] for e in cluster.operator_requests(log, t)] == [
        "a",
        "b",
        "a",
    ]
    assert len(cluster.operator_requests(log, t, t + 5)) == 2
    assert len(cluster.operator_requests(log, t, namespace="a")) == 2
