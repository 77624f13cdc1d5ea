"""The drift job's pure parts: arguments, durations, and reading Evidently's snapshot."""

from __future__ import annotations

import pytest

from modelops.serving_runtime.jobs import drift
from modelops.serving_runtime.jobs.common import JobError


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert drift.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0h", "1w", "h", "1.5h", ""])
def test_bad_durations_are_named(text: str) -> None:
    with pytest.raises(JobError, match="is not a duration"):
        drift.parse_duration(text)


def test_methods_parse_and_reject_garbage() -> None:
    assert drift.parse_methods(["a=psi", "b=ks"]) == {"a": "psi", "b": "ks"}
    with pytest.raises(JobError, match="COLUMN=METHOD"):
        drift.parse_methods(["a"])


def snapshot(share: float, failing: list[str]) -> dict:
    metrics = [
        {
            "id": "count",
            "config": {"type": "evidently:metric_v2:DriftedColumnsCount", "drift_share": 0.2},
            "value": {"count": len(failing), "share": share},
        }
    ]
    tests = []
    for column in ("a", "b", "c"):
        metrics.append(
            {
                "id": f"m-{column}",
                "config": {
                    "type": "evidently:metric_v2:ValueDrift",
                    "column": column,
                    "method": "K-S p_value",
                    "threshold": 0.05,
                },
                "value": 0.001 if column in failing else 0.5,
            }
        )
        tests.append(
            {
                "metric_config": {"metric_id": f"m-{column}"},
                "status": "FAIL" if column in failing else "SUCCESS",
            }
        )
    return {"metrics": metrics, "tests": tests}


def test_summarize_reads_drifted_columns_from_failed_tests() -> None:
    facts = drift.summarize(snapshot(2 / 3, ["a", "c"]), threshold=0.5)
    assert facts["datasetDrift"] is True
    assert facts["driftShare"] == round(2 / 3, 6)
    assert facts["driftedColumns"] == ["a", "c"]
    assert facts["columnScores"]["b"] == {"method": "K-S p_value", "score": 0.5, "threshold": 0.05}


def test_summarize_share_below_threshold_is_no_drift() -> None:
    facts = drift.summarize(snapshot(1 / 3, ["b"]), threshold=0.5)
    assert facts["datasetDrift"] is False and facts["driftedColumns"] == ["b"]
