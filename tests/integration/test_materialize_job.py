"""The materialize job with real Feast (file offline store) and a real Redis online store,
on the example repo from examples/feature_repo with generated data.

Most runs call the job's main() in this process: importing Feast takes seconds, so a process
per run would make the module slow. Two runs go through `python -m` to prove what a pod sees:
the JSON line last on stdout, the termination message, no traceback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
import redis

from modelops.serving_runtime.jobs import materialize
from modelops.serving_runtime.jobs.common import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "feature_repo"
VIEW = "customer_stats"
FEATURES = ["avg_amount_30d", "txn_count_7d", "account_age_days"]
ENTITIES, ROWS = 300, 3000
pytestmark = pytest.mark.timeout(120)


def _load_make_data() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_make_data", EXAMPLE / "make_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_data = _load_make_data()


def host_port(url: str) -> tuple[str, int]:
    parts = redis.connection.parse_url(url)
    return parts.get("host", "127.0.0.1"), int(parts.get("port", 6379))


def feast_connection_string(url: str, db: int) -> str:
    """redis://HOST:PORT/N -> Feast's host:port,db=N (for a db other than the URL's)."""
    host, port = host_port(url)
    return f"{host}:{port},db={db}"


def build_repo(target: Path, registry: Path | None = None, configmap: bool = False) -> Path:
    """The example repo as `kubectl create configmap --from-file` ships it: its flat files.
    With `configmap`, laid out as the kubelet mounts a ConfigMap: the files in a timestamped
    `..2025_...` folder, `..data` linking to it, and a symlink per key through `..data`."""
    target.mkdir(parents=True)
    files = target / "..2025_01_31_00_00_00.000000000" if configmap else target
    files.mkdir(exist_ok=True)
    for item in EXAMPLE.iterdir():
        if item.is_file():
            shutil.copyfile(item, files / item.name)
            if configmap:
                (target / item.name).symlink_to(Path("..data") / item.name)
    if configmap:
        (target / "..data").symlink_to(files.name)
    if registry is not None:
        config = files / "feature_store.yaml"
        text = config.read_text()
        assert "registry: data/registry.db" in text
        config.write_text(text.replace("registry: data/registry.db", f"registry: {registry}"))
    return target


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latest(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The latest row per customer with start <= event_timestamp <= end (Feast's window)."""
    ts = frame["event_timestamp"]
    inside = frame[(ts >= start) & (ts <= end)]
    return inside.sort_values("event_timestamp").groupby("customer_id").tail(1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, datetime]:
    end = datetime.now(UTC) - timedelta(minutes=1)
    path = tmp_path_factory.mktemp("feature-data") / "customers.parquet"
    frame = make_data.make_data(path, ROWS, end, entities=ENTITIES, span=timedelta(days=3))
    return path, frame, end


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    dataset: tuple[Path, pd.DataFrame, datetime],
    tmp_path: Path,
) -> Iterator[dict[str, Any]]:
    """The job's environment (what the pod gets from its Secret), on a Redis db of its own:
    other modules share the session's Redis on db 0."""
    db = 9
    host, port = host_port(redis_url)
    client = redis.Redis(host=host, port=port, db=db)
    client.flushdb()
    values = {
        "REDIS_CONNECTION_STRING": feast_connection_string(redis_url, db),
        "FEAST_DATA_PATH": str(dataset[0]),
        "TERMINATION_MESSAGE_PATH": str(tmp_path / "termination-log"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield {"values": values, "redis": client}
    client.flushdb()
    client.close()


def run_job(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    """main() in this process: the exit code, the result and stderr."""
    code = materialize.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, out  # Feast's own output went to stderr
    return code, json.loads(lines[-1]), err


def run_process(*args: str, env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "modelops.serving_runtime.jobs.materialize", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=90,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    # The pod's log: one JSON object per line, Feast's prints and bars included, no
    # carriage-return redraws; a line per stage.
    assert "\r" not in done.stderr
    logged = [json.loads(line) for line in done.stderr.splitlines()]
    said = [line["message"] for line in logged]
    assert said[0] == "modelops-runtime materialize started", said
    assert said[-1].startswith("modelops-runtime materialize "), said
    if done.returncode == 0:
        assert any(m.startswith("materializing ") for m in said), said
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stdout


def online_values(repo: Path, customers: list[int]) -> dict[str, list[Any]]:
    import feast

    with warnings.catch_warnings():
        # Feast's dependencies warn about their internals; the values are what is checked.
        warnings.simplefilter("ignore")
        store = feast.FeatureStore(repo_path=str(repo))
        return store.get_online_features(
            features=[f"{VIEW}:{name}" for name in FEATURES],
            entity_rows=[{"customer_id": c} for c in customers],
        ).to_dict()


def expected_values(rows: pd.DataFrame, customers: list[int]) -> dict[str, list[Any]]:
    by_id = rows.set_index("customer_id")
    return {
        "customer_id": customers,
        **{name: [by_id[name].get(c) for c in customers] for name in FEATURES},
    }


def as_python(values: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {
        k: [None if v is None or pd.isna(v) else float(v) for v in vs] for k, vs in values.items()
    }


def test_backfill_then_incremental_puts_the_latest_rows_online(
    env: dict[str, Any],
    dataset: tuple[Path, pd.DataFrame, datetime],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, frame, data_end = dataset
    # A registry outside the repo persists between runs, so incremental continues the backfill.
    repo = build_repo(tmp_path / "repo", registry=tmp_path / "registry" / "registry.db")
    start = (data_end - timedelta(hours=60)).replace(microsecond=0)
    end = (data_end - timedelta(hours=30)).replace(microsecond=0)
    customers = list(range(1, ENTITIES + 1)) + [ENTITIES + 1]  # the last one has no rows

    code, result, err = run_job(
        capsys, "--repo", str(repo), "--views", VIEW, "--start", start.isoformat(), "--end",
        end.isoformat(),
    )  # fmt: skip
    assert code == 0 and result["error"] is None, result
    assert result["featureViews"] == [VIEW]
    assert result["materializedUntil"] == materialize.iso(end)
    assert result["views"] == {VIEW: materialize.iso(end)}
    in_window = latest(frame, start, end)
    assert result["rows"] == len(in_window) == ENTITIES
    assert result["applied"] == 3
    applied = [json.loads(line) for line in err.splitlines() if '"applied"' in line]
    assert [line["applied"] for line in applied] == [
        ["data source customer_source", "entity customer", f"feature view {VIEW}"]
    ]
    message = json.loads(Path(env["values"]["TERMINATION_MESSAGE_PATH"]).read_text())
    assert message["materializedUntil"] == result["materializedUntil"]
    assert as_python(online_values(repo, customers)) == as_python(
        expected_values(in_window, customers)
    )

    before = datetime.now(UTC)
    code, result, _ = run_job(capsys, "--repo", str(repo))
    after = datetime.now(UTC)
    assert code == 0 and result["error"] is None, result
    assert result["applied"] == 0  # the registry already holds the definitions
    assert result["featureViews"] == [VIEW]
    until = datetime.fromisoformat(result["materializedUntil"])
    assert before - timedelta(seconds=1) <= until <= after
    assert result["views"] == {VIEW: result["materializedUntil"]}
    since_backfill = latest(frame, end, until)
    assert result["rows"] == len(since_backfill) == ENTITIES
    assert as_python(online_values(repo, customers)) == as_python(
        expected_values(latest(frame, start, until), customers)
    )


def test_read_only_repo_is_copied_before_feast_writes_its_registry(
    env: dict[str, Any], tmp_path: Path
) -> None:
    # The default relative registry (data/registry.db) would land inside the repo. When the
    # tests run as root the mode cannot stop a write, so the repo's contents are compared too.
    # Laid out as a ConfigMap mount: the definitions must be imported once, not again through
    # the kubelet's `..data` folders.
    repo = build_repo(tmp_path / "repo", configmap=True)
    before, names = tree(repo), sorted(os.listdir(repo))
    for folder in (repo, *(p for p in repo.iterdir() if p.is_dir() and not p.is_symlink())):
        folder.chmod(0o555)
    try:
        code, result, stdout = run_process("--repo", str(repo), env=env["values"])
    finally:
        for folder in (repo, *(p for p in repo.iterdir() if p.is_dir() and not p.is_symlink())):
            folder.chmod(0o755)
    assert code == 0 and result["error"] is None, result
    assert stdout.count("\n") == 1  # the JSON line alone: Feast's output went to stderr
    assert tree(repo) == before and sorted(os.listdir(repo)) == names
    assert result["featureViews"] == [VIEW] and result["rows"] == ENTITIES
    assert result["applied"] == 3  # a fresh registry in the copy
    until = datetime.fromisoformat(result["materializedUntil"])
    assert datetime.now(UTC) - timedelta(minutes=2) < until <= datetime.now(UTC)
    assert env["redis"].dbsize() == ENTITIES  # a hash per customer
    message = json.loads(Path(env["values"]["TERMINATION_MESSAGE_PATH"]).read_text())
    assert message == result


def test_unknown_view_is_named_with_the_known_ones(
    env: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = build_repo(tmp_path / "repo")
    code, result, _ = run_job(capsys, "--repo", str(repo), "--views", f"{VIEW},nope")
    assert code == EXIT_BAD_INPUT
    assert result["error"] == f"unknown feature view 'nope'; the repo defines: {VIEW}"
    assert env["redis"].dbsize() == 0


def test_missing_repo_is_an_error(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _ = run_job(capsys, "--repo", "/nonexistent/feature-repo")
    assert code == EXIT_BAD_INPUT
    assert result["error"] == "feature repo /nonexistent/feature-repo does not exist"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, "has no feature_store.yaml"),
        ("project: [unclosed\n", "feature_store.yaml is not a valid Feast configuration"),
        (
            "project: modelops_demo\nprovider: local\nregistry: data/registry.db\n"
            "online_store:\n  type: nosuchstore\n",
            "feature_store.yaml is not a valid Feast configuration",
        ),
    ],
    ids=["missing", "not-yaml", "unknown-online-store"],
)
def test_missing_or_broken_feature_store_yaml(
    env: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: str | None,
    expected: str,
) -> None:
    repo = build_repo(tmp_path / "repo")
    if config is None:
        (repo / "feature_store.yaml").unlink()
    else:
        (repo / "feature_store.yaml").write_text(config)
    code, result, _ = run_job(capsys, "--repo", str(repo))
    assert code == EXIT_BAD_INPUT
    assert expected in result["error"]
    assert str(repo) in result["error"]
    assert "modelops-feast-" not in result["error"]  # the user's path, not the temp copy


def test_unset_environment_variable_is_named(
    env: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_CONNECTION_STRING")
    repo = build_repo(tmp_path / "repo")
    code, result, _ = run_job(capsys, "--repo", str(repo))
    assert code == EXIT_BAD_INPUT
    assert "${REDIS_CONNECTION_STRING}, not set in the environment" in result["error"]


def test_syntax_error_in_definitions_names_file_and_line(
    env: dict[str, Any], tmp_path: Path
) -> None:
    repo = build_repo(tmp_path / "repo")
    source = (repo / "features.py").read_text() + "\ndef broken(:\n    pass\n"
    (repo / "features.py").write_text(source)
    line = source[: source.index("def broken(:")].count("\n") + 1
    code, result, _ = run_process("--repo", str(repo), env=env["values"])
    assert code == EXIT_BAD_INPUT
    assert result["error"].startswith(
        f"could not load the feature definitions (features.py:{line}): SyntaxError:"
    ), result
    assert env["redis"].dbsize() == 0


def test_runtime_error_in_definitions_names_file_and_line(
    env: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = build_repo(tmp_path / "repo")
    with open(repo / "features.py", "a") as f:
        f.write("\nbroken = undefined_name + 1\n")
    line = (repo / "features.py").read_text().count("\n")
    code, result, _ = run_job(capsys, "--repo", str(repo))
    assert code == EXIT_BAD_INPUT
    assert result["error"] == (
        f"could not load the feature definitions (features.py:{line}): "
        "NameError: name 'undefined_name' is not defined"
    )


def test_unreachable_redis_is_an_error_before_anything_is_written(
    env: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = closed_port()
    monkeypatch.setenv("REDIS_CONNECTION_STRING", f"127.0.0.1:{port},db=0,password=s3cret")
    repo = build_repo(tmp_path / "repo", registry=tmp_path / "registry.db")
    code, result, _ = run_job(capsys, "--repo", str(repo))
    assert code == 1
    assert result["error"].startswith(
        f"could not reach the Redis online store at 127.0.0.1:{port}: ConnectionError:"
    ), result
    assert "s3cret" not in result["error"]
    assert not (tmp_path / "registry.db").exists()  # nothing applied either
