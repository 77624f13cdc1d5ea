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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from .load import Load
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


@contextmanager
def serving(
    model_uri: str, mlflow_url: str, tmp_path: Path, **extra: str
) -> Iterator[dict[str, Any]]:
    """`modelops-runtime serve` as a process, configured by env only; yields once every
    worker answers /ready."""
    port = free_port()
    log = tmp_path / "runtime.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith("PROMETHEUS_MULTIPROC")
    }
    env |= {
        "MODEL_URI": model_uri,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "ALLOW_PICKLE": "true",  # the model is a python_function one
        **extra,
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
            # answers in a row (from every worker) say ready.
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


@pytest.fixture
def server(sleepy_uri: str, mlflow_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with serving(
        sleepy_uri, mlflow_url, tmp_path, WORKERS="2", GRACEFUL_SHUTDOWN_SECONDS="10"
    ) as served:
        yield served


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


def test_five_times_the_sustainable_rate_is_answered_not_queued(
    sleepy_uri: str, mlflow_url: str, tmp_path: Path
) -> None:
    """Overload: every request gets an answer (200, or a 503 at once, or a 504 at the
    deadline), none a dropped connection or a wait past the deadline; the process keeps
    scoring at its capacity and its memory stays flat. Without admission control the same
    load queues up: answers come seconds late and the queue (and memory) grows with it."""
    import psutil

    limit, deadline_ms = 8, 1000
    body = json.dumps({"features": [{"x": 1.0, "sleep": 0.02}]}).encode()  # 20 ms of model
    with serving(
        sleepy_uri,
        mlflow_url,
        tmp_path,
        WORKERS="1",
        BATCHING_ENABLED="false",
        MAX_CONCURRENT_REQUESTS=str(limit),
        REQUEST_TIMEOUT_MS=str(deadline_ms),
    ) as served:
        url, proc = f"{served['url']}/predict", psutil.Process(served["proc"].pid)
        with Load(url, body, rate=10_000, threads=4) as closed_loop:  # as fast as 4 clients go
            time.sleep(3)
        sustainable = closed_loop.outcome.ok / closed_loop.outcome.seconds
        assert closed_loop.outcome.failed == 0, closed_loop.outcome
        rss_before = proc.memory_info().rss

        with Load(url, body, rate=5 * sustainable, threads=128) as overload:
            time.sleep(10)
        out = overload.outcome
        assert not out.errors, out.errors  # no dropped or refused connection
        assert set(out.statuses) <= {503, 504}, out.statuses
        assert out.statuses[503] > 0, out  # the load did exceed the limit
        worst = max(out.latencies)
        assert worst < deadline_ms / 1000 + 0.5, f"an answer took {worst:.2f} s"
        # Still scoring, not thrashing (a loose bound: the load generator shares the 2 cores,
        # and rejecting 4 of 5 requests costs CPU too).
        assert out.ok / out.seconds > 0.2 * sustainable, (out.ok / out.seconds, sustainable)
        print(
            f"overload: sustainable {sustainable:.0f}/s, offered {out.rate:.0f}/s, "
            f"200 {out.ok}, 503 {out.statuses[503]}, 504 {out.statuses[504]}, "
            f"slowest {worst * 1000:.0f} ms"
        )
        assert served["proc"].poll() is None
        rss_after = proc.memory_info().rss
        assert rss_after < rss_before * 1.25 + 20 * 2**20, (rss_before, rss_after)
        assert httpx.post(url, content=body, timeout=5).status_code == 200  # recovered


def test_an_idle_kept_alive_connection_is_still_open_after_uvicorns_default_timeout(
    server: dict[str, Any],
) -> None:
    """A proxy or client that reuses a connection the server closed meanwhile gets a reset:
    the runtime keeps idle connections open longer than those in front of it do."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(server["url"])
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    body = json.dumps({"features": [{"x": 1.0, "sleep": 0}]})
    headers = {"Content-Type": "application/json"}
    try:
        conn.request("POST", "/predict", body, headers)
        assert conn.getresponse().read() and conn.sock is not None
        time.sleep(7)  # uvicorn closes a connection idle for 5 s unless told otherwise
        conn.request("POST", "/predict", body, headers)  # the same socket: no reconnect
        answer = conn.getresponse()
        assert answer.status == 200, answer.read()
    finally:
        conn.close()
