"""The S3-compatible store (S3Proxy) in place of S3 on EKS: MLflow keeps its artifacts there,
the runtime serves a model from an s3:// URI, and the drift job reads its data from and writes
its reports to s3://. Every client is configured by the standard variables only
(MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from .conftest import devenv
from .helpers import s3_client
from .runtime_helpers import log_sklearn_model

BIN = Path(sys.executable).parent
COLUMNS = ["a", "b", "c", "d"]
pytestmark = pytest.mark.timeout(240)


def keys(s3: dict[str, str], prefix: str) -> list[str]:
    pages = (
        s3_client(s3).get_paginator("list_objects_v2").paginate(Bucket=s3["bucket"], Prefix=prefix)
    )
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def job_env(s3: dict[str, str] | None, **extra: str) -> dict[str, str]:
    """The caller's environment without any S3, AWS or MLflow setting, then the store's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "MLFLOW_S3_", "MLFLOW_TRACKING_", "PROMETHEUS_MULTIPROC"))
    }
    if s3 is not None:
        env |= devenv.s3_env(s3)
    return env | extra


@pytest.fixture(scope="module")
def logged(mlflow_url: str, s3: dict[str, str]) -> dict[str, Any]:
    """A model logged and registered through the MLflow server; where it landed in S3."""
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=COLUMNS)
    estimator = LogisticRegression(max_iter=300).fit(frame, frame.a + frame.b > 0)
    name = f"s3-{uuid.uuid4().hex[:8]}"
    uri = log_sklearn_model(estimator, frame.iloc[:5], name, mlflow_url)
    version = uri.rsplit("/", 1)[1]
    client = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    # mlflow-artifacts:/PATH is the server's --artifacts-destination (s3://BUCKET/mlflow)/PATH.
    location = client.get_model_version_download_uri(name, version)
    assert location.startswith("mlflow-artifacts:"), location
    path = urllib.parse.urlsplit(location).path.strip("/")
    return {
        "uri": uri,
        "estimator": estimator,
        "frame": frame,
        "prefix": f"mlflow/{path}/",
        "s3_uri": f"s3://{s3['bucket']}/mlflow/{path}",
    }


def test_a_model_logged_through_mlflow_lands_in_the_bucket(
    logged: dict[str, Any], s3: dict[str, str]
) -> None:
    found = keys(s3, logged["prefix"])
    names = {k.removeprefix(logged["prefix"]) for k in found}
    assert {"MLmodel", "model.skops", "requirements.txt"} <= names, found
    body = s3_client(s3).get_object(Bucket=s3["bucket"], Key=f"{logged['prefix']}MLmodel")
    assert "sklearn" in body["Body"].read().decode()


@pytest.fixture(scope="module")
def served(logged: dict[str, Any], s3: dict[str, str], tmp_path_factory: Any) -> Iterator[str]:
    """`modelops-runtime serve` on MODEL_URI=s3://...: no MLflow server, only the store."""
    port = devenv.free_port()
    log = tmp_path_factory.mktemp("runtime-s3") / "runtime.log"
    env = job_env(s3, MODEL_URI=logged["s3_uri"], PORT=str(port), HOST="127.0.0.1", WORKERS="1")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "modelops-runtime"), "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"runtime did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_the_runtime_serves_a_model_from_an_s3_uri(served: str, logged: dict[str, Any]) -> None:
    frame = logged["frame"].iloc[:20]
    response = httpx.post(
        f"{served}/predict", json={"features": frame.to_dict(orient="records")}, timeout=30
    )
    assert response.status_code == 200, response.text
    expected = logged["estimator"].predict(frame).tolist()
    assert response.json()["predictions"] == expected


def run_drift(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [str(BIN / "modelops-runtime"), "drift", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def drift_data(s3: dict[str, str]) -> str:
    """Reference and current data uploaded as parquet; the current one in two parts under a
    prefix (a directory, as a Spark or Feast export writes it). Returns the prefix."""
    import io

    rng = np.random.default_rng(42)
    reference = pd.DataFrame(rng.normal(size=(2000, 4)), columns=COLUMNS)
    current = pd.DataFrame(rng.normal(size=(2000, 4)), columns=COLUMNS)
    current["b"] += 1.5  # a shifted mean
    current["d"] *= 4  # a wider spread
    prefix = f"drift-{uuid.uuid4().hex[:8]}"
    client = s3_client(s3)
    parts = {
        "reference.parquet": reference,
        "current/part-0.parquet": current.iloc[:1000],
        "current/part-1.parquet": current.iloc[1000:],
    }
    for key, frame in parts.items():
        buf = io.BytesIO()
        frame.to_parquet(buf)
        client.put_object(Bucket=s3["bucket"], Key=f"{prefix}/{key}", Body=buf.getvalue())
    return f"s3://{s3['bucket']}/{prefix}"


def test_the_drift_job_reads_and_reports_through_s3(drift_data: str, s3: dict[str, str]) -> None:
    code, result = run_drift(
        job_env(s3),
        "--reference",
        f"{drift_data}/reference.parquet",
        "--current",
        f"{drift_data}/current",
        "--report-dir",
        f"{drift_data}/reports",
    )
    assert code == 0 and result["error"] is None, result
    assert result["driftedColumns"] == ["b", "d"]
    assert (result["rowsReference"], result["rowsCurrent"]) == (2000, 2000)
    report = result["reportUri"]
    assert report.startswith(f"{drift_data}/reports/drift-") and report.endswith(".html")

    prefix = drift_data.removeprefix(f"s3://{s3['bucket']}/") + "/reports/"
    stem = report.rsplit("/", 1)[1].removesuffix(".html")
    assert keys(s3, prefix) == [f"{prefix}{stem}.html", f"{prefix}{stem}.json"]
    client = s3_client(s3)
    html = client.get_object(Bucket=s3["bucket"], Key=f"{prefix}{stem}.html")["Body"].read()
    assert b"<html" in html.lower()
    doc = client.get_object(Bucket=s3["bucket"], Key=f"{prefix}{stem}.json")["Body"].read()
    assert json.loads(doc)["metrics"]


def test_the_drift_job_reports_wrong_keys_as_its_error(drift_data: str, s3: dict[str, str]) -> None:
    wrong = {**s3, "secret_key": "not-" + s3["secret_key"]}
    code, result = run_drift(
        job_env(wrong),
        "--reference",
        f"{drift_data}/reference.parquet",
        "--current",
        f"{drift_data}/current",
    )
    assert code == 1
    assert result["error"].startswith(f"could not download {drift_data}/reference.parquet")
