"""Events the periodic pass posts itself (outside kopf's handlers, kopf has no queue)."""

from __future__ import annotations

from datetime import UTC, datetime

from modelops.operator.handlers.events import build_event

BODY = {
    "apiVersion": "modelops.dev/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "fraud", "namespace": "team-a", "uid": "u-1"},
}


def test_an_event_names_its_object_and_is_posted_in_its_namespace() -> None:
    event = build_event(
        BODY, "Warning", "RegistryUnavailable", "x" * 5000, datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert event["metadata"] == {"generateName": "fraud.", "namespace": "team-a"}
    assert event["involvedObject"] == {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "fraud",
        "namespace": "team-a",
        "uid": "u-1",
    }
    assert (event["type"], event["reason"]) == ("Warning", "RegistryUnavailable")
    assert len(event["message"]) == 1024
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-12-01T00:00:00Z"
