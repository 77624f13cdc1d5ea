"""The rollout's split: exact canary weights, sticky A/B keys, newest configuration wins,
shadow agreement sums."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from modelops.serving_runtime.traffic import (
    Splitter,
    TrafficConfig,
    TrafficFiles,
    agreement,
    bucket,
    write_config,
)


@pytest.mark.parametrize("weight", [0, 1, 10, 33, 50, 99, 100])
def test_a_canary_weight_is_exact_within_one_request(weight: int) -> None:
    s = Splitter()
    s.update(TrafficConfig(revision=1, mode="canary", weight=weight))
    for n in (1, 7, 100, 1234):
        chosen = sum(s.to_candidate(None) for _ in range(n))
        s.update(TrafficConfig(revision=s.config.revision + 1, mode="canary", weight=weight))
        assert abs(chosen - n * weight / 100) < 1, (n, chosen)


def test_the_canary_split_is_spread_not_bunched() -> None:
    s = Splitter()
    s.update(TrafficConfig(revision=1, mode="canary", weight=25))
    picks = [s.to_candidate(None) for _ in range(40)]
    # One in four, evenly: any 4 consecutive requests hold exactly one candidate answer.
    assert all(sum(picks[i : i + 4]) == 1 for i in range(len(picks) - 3))


def test_ab_assignment_is_sticky_and_near_the_weight() -> None:
    s = Splitter()
    s.update(TrafficConfig(revision=1, mode="abtest", weight=30, key="header:X-User-Id"))
    keys = [f"user-{i}" for i in range(10_000)]
    first = [s.to_candidate(k) for k in keys]
    assert first == [s.to_candidate(k) for k in keys]
    assert abs(sum(first) / len(keys) - 0.30) < 0.02
    assert not s.to_candidate(None), "a request without a key stays on the stable version"
    assert bucket("user-1") == bucket("user-1") and 0 <= bucket("x") < 100


def test_shadow_and_none_never_send_a_request_to_the_candidate() -> None:
    s = Splitter()
    for mode in ("shadow", "none"):
        s.update(TrafficConfig(revision=s.config.revision + 1, mode=mode, weight=100))
        assert not any(s.to_candidate("k") for _ in range(100))
    assert s.shadow is False and s.config.mode == "none"


def test_an_older_revision_never_replaces_a_newer() -> None:
    s = Splitter()
    assert s.update(TrafficConfig(revision=5, mode="canary", weight=50))
    assert not s.update(TrafficConfig(revision=4, mode="canary", weight=0))
    assert s.config.weight == 50
    assert not s.update(TrafficConfig(revision=5, mode="canary", weight=50)), "no change"


def test_bad_configurations_are_refused() -> None:
    for bad in ({"weight": 101}, {"mode": "blue"}, {"key": "cookie:x"}, {"extra": 1}):
        with pytest.raises(ValueError):
            TrafficConfig.model_validate(bad)


def test_files_give_the_newest_revision_once(tmp_path: Path) -> None:
    mounted, pushed = tmp_path / "mounted.json", tmp_path / "pushed.json"
    files = TrafficFiles([str(mounted), str(pushed), ""])
    assert files.poll() is None, "no file yet"
    write_config(str(mounted), TrafficConfig(revision=3, mode="canary", weight=10))
    write_config(str(pushed), TrafficConfig(revision=4, mode="canary", weight=50))
    newest = files.poll()
    assert newest is not None and newest.revision == 4 and newest.weight == 50
    assert files.poll() is None, "unchanged files are not read again"
    mounted.write_text("{not json")
    os.utime(mounted, (1, 1))
    assert files.poll() is None, "a broken file is skipped, not fatal"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert json.loads(pushed.read_text())["weight"] == 50


def test_agreement_of_labels_and_of_numbers() -> None:
    rows, equal, sums = agreement(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0]), True)
    assert (rows, equal, sums) == (4, 2, (0.0, 0.0, 0.0))
    assert agreement(np.array([1, 0]), np.array([1, 1]), False)[2] == (0.0, 0.0, 0.0), "int labels"
    rows, equal, sums = agreement(np.array([1.0, 3.0]), np.array([2.0, 3.0]), False)
    assert (rows, equal) == (2, 1) and sums == (1.0, 4.0, 10.0)
    with pytest.raises(ValueError, match="2 predictions for 3"):
        agreement(np.array([1, 2, 3]), np.array([1, 2]), True)
