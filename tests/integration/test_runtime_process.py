"""`modelops-runtime serve` as the container runs it: env-only configuration, several worker
processes, JSON logs, aggregated metrics, and a SIGTERM that drains in-flight requests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from .runtime_helpers import log_pyfunc_model

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sleepy_uri(mlflow_url: str) -> str:
    example = pd.DataFrame({"x": [1.0, 2.0], "sleep": [0.0, 0.0]})
    return log_pyfunc_model("rt-sleepy", mlflow_url, example)


@pytest.fixture
def server(sleepy_uri: str, mlflow_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    log = tmp_path / "runtime.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith("PROMETHEUS_MULTIPROC")
    }
    env |= {
        "MODEL_URI": sleepy_uri,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WORKERS": "2",
        "GRACEFUL_SHUTDOWN_SECONDS": "10",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
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
        in_a_row = 0
        while True:
            # Each worker loads its own model and answers /ready for itself: wait until many
            # answers in a row (from both workers) say ready.
            try:
                ok = httpx.get(f"{url}/ready", timeout=2).status_code == 200
            except httpx.TransportError:
                ok = False
            in_a_row = in_a_row + 1 if ok else 0
            if in_a_row >= 20:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"runtime did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.05 if ok else 0.2)
        yield {"url": url, "proc": proc, "log": log}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_workers_serve_and_sigterm_drains_in_flight_requests(server: dict[str, Any]) -> None:
    import psutil

    url, proc = server["url"], server["proc"]
    quick = httpx.post(f"{url}/predict", json={"features": [{"x": 2.5, "sleep": 0}]}, timeout=10)
    assert quick.json()["predictions"] == [5.0]
    workers = [c for c in psutil.Process(proc.pid).children() if "python" in c.name().lower()]
    assert len(workers) >= 2

    # Both workers count into one /metrics (prometheus multiprocess mode).
    for _ in range(20):
        httpx.post(f"{url}/invocations", json={"inputs": {"x": [1.0], "sleep": [0.0]}})
    text = httpx.get(f"{url}/metrics").text
    served = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("modelops_runtime_requests_total{")
        and 'endpoint="/invocations"' in line
        and 'code="200"' in line
    )
    assert served == 20

    # A request that takes 2 s is in flight when SIGTERM arrives: it still completes.
    result: dict[str, Any] = {}

    def slow() -> None:
        result["response"] = httpx.post(
            f"{url}/predict", json={"features": [{"x": 1.0, "sleep": 2.0}]}, timeout=30
        )

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.7)
    proc.send_signal(signal.SIGTERM)
    thread.join(timeout=30)
    assert result["response"].status_code == 200
    assert result["response"].json()["predictions"] == [2.0]
    assert proc.wait(timeout=30) == 0

    lines = [line for line in server["log"].read_text().splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines if line.startswith("{")]
    plain = [line for line in lines if not line.startswith("{")]
    assert not plain, plain  # structured: one JSON object per line
    messages = {d["message"] for d in docs}
    assert "Loaded model" in messages and "Stopped serving runtime" in messages
    assert all({"ts", "level", "logger", "message"} <= set(d) for d in docs)


def test_cli_usage_errors() -> None:
    runtime = str(BIN / "modelops-runtime")
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_URI", "model_uri")}
    missing = subprocess.run([runtime, "serve"], env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and "model_uri" in missing.stderr.lower()
    usage = subprocess.run([runtime], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "COMMAND" in usage.stderr
