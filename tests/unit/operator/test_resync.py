"""The resync loop and a rollout's follow-up passes pause while a live peer of higher priority
works, as kopf's handlers do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelops.operator.handlers import resync
from modelops.operator.handlers.resync import lists, outranked, peering_paths, served

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def peer(priority: int, seconds_ago: float, lifetime: int = 60) -> dict[str, object]:
    seen = (NOW - timedelta(seconds=seconds_ago)).isoformat()
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen}


def test_a_live_peer_of_higher_priority_pauses_the_loop() -> None:
    assert outranked({"status": {"a": peer(10, 5), "b": peer(50, 5)}}, 10, NOW)
    assert not outranked({"status": {"a": peer(10, 5), "b": peer(5, 5)}}, 10, NOW)


def test_a_dead_peer_does_not() -> None:
    assert not outranked({"status": {"b": peer(50, 61)}}, 10, NOW)
    assert not outranked({"status": {"b": peer(50, 1, lifetime=0)}}, 10, NOW)


def test_no_peering_or_garbage_in_it_does_not_pause() -> None:
    assert not outranked(None, 10, NOW)
    assert not outranked({"status": {"x": "nonsense", "y": {"lastseen": "yesterday"}}}, 10, NOW)


def test_the_pass_covers_what_kopf_serves_minus_the_excluded() -> None:
    assert lists([], ["kube-system"]) == [None]
    assert lists(["a", "kube-system", "b"], ["kube-system"]) == ["a", "b"]
    assert lists(["t-*"], ["kube-system"]) == [None]  # a pattern: all, then filtered
    assert served("t-1", ["t-*"]) and not served("default", ["t-*"])
    assert served("x", []) and served("a", ["b", "a"])
    assert served("app-live", ["app-*,!*-pr-*"]) and not served("app-pr-1", ["app-*,!*-pr-*"])


def test_peering_lives_cluster_wide_or_in_each_served_namespace() -> None:
    assert peering_paths("p", True, ["a"]) == ["/apis/kopf.dev/v1/clusterkopfpeerings/p"]
    assert peering_paths("p", False, ["a", "b"]) == [
        "/apis/kopf.dev/v1/namespaces/a/kopfpeerings/p",
        "/apis/kopf.dev/v1/namespaces/b/kopfpeerings/p",
    ]
    # Outside a pod, with no namespace named: the default namespace's.
    assert peering_paths("p", False, []) == ["/apis/kopf.dev/v1/namespaces/default/kopfpeerings/p"]


def test_each_object_has_its_own_stable_place_in_the_interval() -> None:
    from modelops.operator.handlers.resync import SPREAD, offset

    places = [offset("ns", f"m-{i}", 60.0) for i in range(200)]
    assert places == [offset("ns", f"m-{i}", 60.0) for i in range(200)]
    assert all(0 <= p < 60.0 * SPREAD for p in places)
    # Spread, not bunched: every sixth of the window holds some.
    assert {int(p // (60.0 * SPREAD / 6)) for p in places} == set(range(6))


async def test_a_follow_up_pass_is_skipped_by_a_replica_that_no_longer_leads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rollout's next look, scheduled while this replica led, must not run once another
    leads: two replicas would drive the same rollout (a promotion done twice)."""
    ran: list[str] = []
    bodies = {
        "/peering": {"status": {"other": {"priority": 50, "lifetime": 60, "lastseen": "now"}}}
    }

    async def run(namespace: str, name: str, logger: Any, _: Any) -> None:
        ran.append(name)

    def get_raw(path: str) -> dict[str, Any]:
        peer = bodies[path]["status"]["other"]
        peer["lastseen"] = datetime.now(UTC).isoformat()
        return bodies[path]

    monkeypatch.setattr(resync.kube, "get_raw", get_raw)
    monkeypatch.setattr(resync, "_peering", ("/peering", 10))
    resync.soon("ModelDeployment", "ns", "outranked", 0.01, run)
    await asyncio.sleep(0.2)
    assert ran == []
    monkeypatch.setattr(resync, "_peering", ("/peering", 90))  # now this replica leads
    resync.soon("ModelDeployment", "ns", "leading", 0.01, run)
    await asyncio.sleep(0.2)
    assert ran == ["leading"]
