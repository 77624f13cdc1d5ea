"""devenv.kubelet: the pod status a kubelet would write for a finished job container."""

from __future__ import annotations

from devenv import kubelet


def test_pod_result_patch_for_success_and_failure() -> None:
    ok = kubelet.pod_result_patch("drift-monitor", 0, "{}")["status"]
    assert ok["phase"] == "Succeeded"
    terminated = ok["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"], terminated["message"]) == (
        0,
        "Completed",
        "{}",
    )
    failed = kubelet.pod_result_patch("drift-monitor", 2, "boom")["status"]
    assert failed["phase"] == "Failed"
    assert failed["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
