"""The registry lookups ModelDeployments share: joined while in flight, a numbered version's
kept, an alias's reused only for the window asked for, a failure never kept."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from modelops.operator.api.v1alpha1.model_deployment import ResolvedModel
from modelops.operator.handlers import model_deployment as h
from modelops.operator.status.resolution import Resolution


class Registry:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.failing: set[str] = set()


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    fake = Registry()
    asked, failing = fake.asked, fake.failing
    lock = threading.Lock()

    def resolve(uri: str, tracking: str, settings: Any) -> Resolution:
        with lock:
            asked.append(uri)
        time.sleep(0.05)  # long enough for the others to arrive while it is in flight
        if uri in failing:
            return Resolution(None, "RegistryUnavailable", "down")
        return Resolution(ResolvedModel(uri=uri, resolved_uri="models:/m/1", version="1"))

    monkeypatch.setattr(h.registry, "resolve", resolve)
    monkeypatch.setattr(h, "_answers", {})
    monkeypatch.setattr(h, "_asking", {})
    yield fake


async def test_a_thousand_creations_of_one_alias_ask_once(registry: Registry) -> None:
    answers = await asyncio.gather(*(h._lookup("models:/m@a", "t", 0) for _ in range(1000)))
    assert registry.asked == ["models:/m@a"]
    assert {a.model.resolved_uri for a in answers if a.model} == {"models:/m/1"}


async def test_an_alias_is_asked_again_after_its_window_a_version_never(
    registry: Registry,
) -> None:
    await h._lookup("models:/m@a", "t", 0)
    await h._lookup("models:/m@a", "t", 0)  # nothing in flight, no window: asked again
    await h._lookup("models:/m@a", "t", 60)  # within the window: the last answer
    await h._lookup("models:/m/1", "t", 0)
    await h._lookup("models:/m/1", "t", 0)
    assert registry.asked == ["models:/m@a", "models:/m@a", "models:/m/1"]


async def test_a_failure_is_not_kept(registry: Registry) -> None:
    registry.failing.add("models:/m/2")
    first = await h._lookup("models:/m/2", "t", 60)
    assert first.model is None
    await h._lookup("models:/m/2", "t", 60)
    assert registry.asked == ["models:/m/2", "models:/m/2"]


async def test_answers_past_the_limit_push_out_the_oldest_not_all(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(h, "MEMORY_LIMIT", 3)
    for version in range(1, 5):
        await h._lookup(f"models:/m/{version}", "t", 0)
    assert [uri for _, uri in h._answers] == ["models:/m/2", "models:/m/3", "models:/m/4"]
    await h._lookup("models:/m/2", "t", 0)  # still kept: not asked again
    assert registry.asked == [f"models:/m/{v}" for v in range(1, 5)]


async def test_a_deleted_model_deployment_takes_its_memory_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(h, "_last_full", {("ns", "a"): 1.0, ("ns", "b"): 2.0})
    monkeypatch.setattr(h, "_status_waiting", {("ns", "a"): {}})
    monkeypatch.setattr(h, "_bodies", {})
    body = kopf.Body({"metadata": {"namespace": "ns", "name": "a", "resourceVersion": "7"}})
    await h.on_model_deployment_event(type="MODIFIED", namespace="ns", name="a", body=body)
    assert ("ns", "a") in h._last_full and ("ns", "a") in h._status_waiting
    assert h._known("ns", "a") == {
        "metadata": {"namespace": "ns", "name": "a", "resourceVersion": "7"}
    }
    await h.on_model_deployment_event(type="DELETED", namespace="ns", name="a", body=body)
    assert h._last_full == {("ns", "b"): 2.0} and h._status_waiting == {}
    assert h._known("ns", "a") is None


def test_the_body_kept_for_status_passes_is_the_newest_without_managed_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(h, "_bodies", {})

    def body(version: str, ready: str) -> dict[str, Any]:
        meta = {"namespace": "ns", "name": "a", "resourceVersion": version, "managedFields": [{}]}
        return {"metadata": meta, "status": {"ready": ready}}

    h._note(body("10", "new"))
    h._note(body("9", "old"))  # a watch event older than the pass's own write
    known = h._known("ns", "a")
    assert known is not None and known["status"] == {"ready": "new"}
    assert "managedFields" not in known["metadata"]
    h._note(body("11", "newer"))
    assert (h._known("ns", "a") or {})["status"] == {"ready": "newer"}


def test_a_full_pass_works_from_the_newest_body_only_before_any_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(h, "_bodies", {})
    meta = {"namespace": "ns", "name": "a", "resourceVersion": "5"}
    h._note({"metadata": meta, "spec": {}})
    assert h._new("ns", "a") == {"metadata": meta, "spec": {}}
    assert h._known("ns", "a") is None  # taken: the pass's own write is kept again
    h._note({"metadata": {**meta, "resourceVersion": "6"}, "status": {"ready": "x"}})
    assert h._new("ns", "a") is None  # a pass wrote status: the full pass reads
    assert h._new("ns", "a") is None


async def test_children_are_applied_together_config_maps_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[str] = []
    # The Deployment and Service in flight at once (sequential applies would time out).
    together = [threading.Barrier(2, timeout=5)]

    def apply_child(obj: dict[str, Any], known_owned: bool) -> dict[str, Any]:
        started.append(obj["kind"])
        if obj["kind"] != "ConfigMap":
            together[0].wait()
        if obj["kind"] == "Service":
            raise RuntimeError("refused")
        return {**obj, "metadata": {**obj["metadata"], "uid": obj["kind"]}}

    monkeypatch.setattr(h.kube, "apply_child", apply_child)

    def child(kind: str, api: str = "v1") -> dict[str, Any]:
        return {"apiVersion": api, "kind": kind, "metadata": {"name": "a", "namespace": "ns"}}

    objs = [child("Deployment", "apps/v1"), child("Service"), child("ConfigMap")]
    with pytest.raises(RuntimeError, match="refused"):
        await h._apply_all(objs, {})
    assert started[0] == "ConfigMap" and sorted(started[1:]) == ["Deployment", "Service"]
    together[0] = threading.Barrier(1)
    applied = await h._apply_all([objs[0], objs[2]], {})
    assert [a["metadata"]["uid"] for a in applied] == ["ConfigMap", "Deployment"]
