"""The drift job's pure parts: arguments, durations, and reading Evidently's snapshot."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from modelops.serving_runtime.errors import JobError
from modelops.serving_runtime.jobs import drift


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


def frames(**current_columns: list[object]) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = pd.DataFrame({f"c{i}": [float(i), i + 0.5, i + 1.0] for i in range(11)})
    current = reference.copy()
    for name, values in current_columns.items():
        if values is None:
            current = current.drop(columns=[name])
        else:
            current[name] = values
    return reference, current


def test_a_column_missing_from_the_current_data_fails_the_check() -> None:
    reference, current = frames(c9=None)
    with pytest.raises(JobError, match="missing from the current data: c9"):
        drift.select_columns(reference, current, None, None)


def test_numbers_arriving_as_strings_fail_the_check() -> None:
    reference, current = frames(c3=["1.0", "2.0", "x"])
    with pytest.raises(JobError, match=r"type changed: c3 \(numeric in the reference, text now\)"):
        drift.select_columns(reference, current, None, None)


def test_a_column_without_values_fails_the_check() -> None:
    reference, current = frames(c2=[None, None, None])
    with pytest.raises(JobError, match="no values in the current data: c2"):
        drift.select_columns(reference, current, None, None)


def test_extra_current_columns_are_ignored_and_listed() -> None:
    reference, current = frames(zz=[1, 2, 3], aa=["x", "y", "z"])
    columns, ignored = drift.select_columns(reference, current, None, None)
    assert columns == [f"c{i}" for i in range(11)]
    assert ignored == ["aa", "zz"]


def test_the_models_features_are_monitored_not_the_reference_label() -> None:
    reference, current = frames()
    reference["label"] = [0, 1, 0]
    columns, ignored = drift.select_columns(reference, current, None, ["c1", "c4"])
    assert columns == ["c1", "c4"]
    assert ignored == sorted(f"c{i}" for i in range(11) if i not in (1, 4))
    with pytest.raises(JobError, match="missing from the current data: label"):
        drift.select_columns(reference, current, None, None)


def test_requested_columns_win_and_must_exist_in_both() -> None:
    reference, current = frames(c5=None)
    assert drift.select_columns(reference, current, ["c1"], ["c5"])[0] == ["c1"]
    with pytest.raises(JobError, match="not in the reference: nope"):
        drift.select_columns(reference, current, ["c1", "nope"], None)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([1, 2, None], "numeric"),
        ([True, False, True], "numeric"),
        (["a", "b", None], "text"),
        ([1, "b", 2.0], "text"),
        ([None, None, None], "empty"),
        (pd.to_datetime(["2026-01-01", "2026-01-02", None]), "datetime"),
    ],
)
def test_column_kinds(values: object, kind: str) -> None:
    assert drift.column_kind(pd.Series(values)) == kind


def test_a_report_store_that_fails_loses_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object) -> str:
        raise ConnectionError("s3.example: connection refused")

    monkeypatch.setattr(drift, "write_reports", down)
    args = argparse.Namespace(report_dir="s3://b/reports", report_to_run=False, tracking_uri=None)
    assert drift.save_reports(args, None, object(), 0.0) == {
        "reportError": "could not write the report: ConnectionError: s3.example: connection refused"
    }
    to_run = argparse.Namespace(report_dir=None, report_to_run=True, tracking_uri=None)
    assert drift.save_reports(to_run, None, object(), 0.0) == {
        "reportError": "no --model: no MLflow run to attach the report to"
    }
    none = argparse.Namespace(report_dir=None, report_to_run=False, tracking_uri=None)
    assert drift.save_reports(none, "models:/m/1", object(), 0.0) == {}
