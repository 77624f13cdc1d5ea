"""Job plumbing: the termination message fits, data loads, secrets stay out of messages."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from modelops.serving_runtime.errors import BadInput, JobError
from modelops.serving_runtime.jobs import common


def test_termination_message_drops_detail_then_truncates_lists() -> None:
    result = {
        "datasetDrift": True,
        "driftShare": 0.9,
        "driftedColumns": [f"column_with_a_long_name_{i}" for i in range(400)],
        "columnScores": {f"c{i}": {"score": 0.5} for i in range(300)},
        "error": None,
    }
    text = common.termination_message(result)
    assert len(text.encode()) <= common.TERMINATION_LIMIT
    doc = json.loads(text)
    assert "columnScores" not in doc
    assert doc["driftShare"] == 0.9 and doc["datasetDrift"] is True
    assert doc["driftedColumnsTruncated"] == 400 and len(doc["driftedColumns"]) == 10


def test_small_results_pass_unchanged() -> None:
    result = {"driftShare": 0.1, "driftedColumns": ["a"], "columnScores": {"a": {"score": 1}}}
    assert json.loads(common.termination_message(result)) == result


def test_emit_result_prints_the_last_line_and_writes_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "termination-log"
    monkeypatch.setenv("TERMINATION_MESSAGE_PATH", str(path))
    common.emit_result({"error": "boom"}, datetime(2026, 1, 1, tzinfo=UTC))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last)["error"] == "boom"
    assert json.loads(last)["startTime"] == "2026-01-01T00:00:00Z"
    assert json.loads(path.read_text())["error"] == "boom"


def test_redact_hides_passwords() -> None:
    assert common.redact("redis://:s3cret@r:6379/0") == "redis://:***@r:6379/0"
    assert common.redact("redis://r:6379/0") == "redis://r:6379/0"


def test_load_table_reads_files_and_directories(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    frame.to_parquet(tmp_path / "part-1.parquet")
    frame.to_csv(tmp_path / "part-2.csv", index=False)
    assert common.load_table(str(tmp_path / "part-1.parquet")).equals(frame)
    both = common.load_table(str(tmp_path))
    assert len(both) == 4 and list(both.columns) == ["a", "b"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "does not exist"),
        (lambda d: (d / "x.parquet").write_text("not parquet"), "could not read x.parquet"),
        (lambda d: (d / "empty.csv").write_text("a,b\n"), "holds no rows"),
    ],
)
def test_load_table_errors_are_clear(tmp_path: Path, setup, message: str) -> None:
    setup(tmp_path)
    target = next(iter(tmp_path.iterdir()), tmp_path / "missing.parquet")
    with pytest.raises(common.JobError, match=message):
        common.load_table(str(target))


@pytest.mark.parametrize(
    ("raised", "code", "error"),
    [
        (None, 0, None),
        (BadInput("--threshold 0 must be in (0, 1]"), common.EXIT_BAD_INPUT, "--threshold 0"),
        (JobError("could not download s3://b/k: timed out"), 1, "could not download"),
        (RuntimeError("boom"), 1, "unexpected RuntimeError: boom"),
    ],
)
def test_exit_codes_tell_bad_input_from_failures_a_retry_may_mend(
    raised: Exception | None,
    code: int,
    error: str | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("TERMINATION_MESSAGE_PATH", str(tmp_path / "message"))

    def run(args: object) -> dict[str, object]:
        if raised is not None:
            raise raised
        return {"ok": True}

    assert common.run_job("job", None, lambda parser: None, run, []) == code
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    if error is None:
        assert result["ok"] is True and "error" not in result
    else:
        assert result["error"].startswith(error), result
    assert json.loads((tmp_path / "message").read_text()).get("error") == result.get("error")


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--repo", required=True)

    with pytest.raises(SystemExit) as done:
        common.run_job("job", None, add, lambda args: {}, ["--nope"])
    assert done.value.code == 2


def log_lines(err: str) -> list[dict[str, object]]:
    """stderr as JSON objects: every line must be one."""
    return [json.loads(line) for line in err.splitlines()]


def test_a_job_logs_json_lines_on_stderr_a_line_per_stage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TERMINATION_MESSAGE_PATH", str(tmp_path / "message"))

    def run(args: object) -> dict[str, object]:
        common.stage("reading the reference", uri="s3://b/ref.parquet")
        progress = common.Progress("writing", every=0)
        progress.add(10)
        progress.add(5)
        return {"ok": True}

    assert common.run_job("modelops-runtime demo", None, lambda p: None, run, []) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1  # stdout: the result alone
    lines = log_lines(err)
    said = [(line["message"], line.get("rows")) for line in lines]
    assert said == [
        ("modelops-runtime demo started", None),
        ("reading the reference", None),
        ("writing", 10),
        ("writing", 15),
        ("modelops-runtime demo succeeded", None),
    ]
    assert lines[1]["uri"] == "s3://b/ref.parquet" and lines[1]["level"] == "info"
    assert isinstance(lines[-1]["seconds"], float)


def test_a_failed_job_logs_its_exit_code_and_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TERMINATION_MESSAGE_PATH", str(tmp_path / "message"))

    def run(args: object) -> dict[str, object]:
        raise BadInput("--window 5x is not a duration")

    assert common.run_job("job", None, lambda p: None, run, []) == common.EXIT_BAD_INPUT
    last = log_lines(capsys.readouterr().err)[-1]
    assert last["level"] == "warning" and last["message"] == "job failed"
    assert last["exitCode"] == common.EXIT_BAD_INPUT
    assert last["error"] == "--window 5x is not a duration"


def test_progress_is_periodic_not_per_call(capsys: pytest.CaptureFixture[str]) -> None:
    common._configure_logs()
    progress = common.Progress("writing", every=3600)
    for _ in range(1000):
        progress.add(1)
    assert progress.done == 1000
    assert capsys.readouterr().err == ""  # nothing within the hour
