"""MLflow and Redis for tests and the demo, and the demo's operator, as local processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from .process import STATE, Proc, free_port, log, tail, venv_bin, wait_http


def redis_start(state: Path, port: int | None = None) -> str:
    port = port or free_port()
    data = state / "redis"
    data.mkdir(parents=True, exist_ok=True)
    proc = Proc(state, "redis")
    proc.start(
        [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not proc.alive():
            proc.stop()
            raise RuntimeError(f"redis-server exited:\n{tail(proc.logfile)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.stop()
    raise TimeoutError("redis-server did not answer PING")


def mlflow_start(state: Path, port: int | None = None) -> str:
    port = port or free_port()
    data = state / "mlflow"
    (data / "artifacts").mkdir(parents=True, exist_ok=True)
    proc = Proc(state, "mlflow")
    proc.start(
        [
            venv_bin("mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{data / 'mlflow.db'}",
            # Artifacts go through the server (mlflow-artifacts:/), as they would for pods.
            "--artifacts-destination",
            str(data / "artifacts"),
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", 120, proc=proc)
    except BaseException:
        proc.stop()  # never leave a half-started server behind
        raise
    return url


def services_up(state: Path = STATE) -> dict[str, str]:
    info = state / "services.json"
    if info.exists() and Proc(state, "redis").alive() and Proc(state, "mlflow").alive():
        return json.loads(info.read_text())
    services_down(state)
    state.mkdir(parents=True, exist_ok=True)
    meta = {"redis_url": redis_start(state), "mlflow_url": mlflow_start(state)}
    info.write_text(json.dumps(meta, indent=2))
    log(f"MLflow at {meta['mlflow_url']}, Redis at {meta['redis_url']}")
    return meta


def services_down(state: Path = STATE) -> None:
    for name in ("mlflow", "redis"):
        Proc(state, name).stop()
    (state / "services.json").unlink(missing_ok=True)


def operator_start(state: Path, mlflow_url: str, redis_url: str | None = None) -> None:
    """Run the operator from the virtualenv against the local control plane (the demo's)."""
    proc = Proc(state, "operator")
    if proc.alive():
        return
    env = {
        **os.environ,
        "KUBECONFIG": str(state / "kubeconfig"),
        "MODELOPS_MLFLOW_TRACKING_URI": mlflow_url,
        "MODELOPS_MODEL_POLL_SECONDS": os.environ.get("MODELOPS_MODEL_POLL_SECONDS", "10"),
    }
    if redis_url:
        env["MODELOPS_REDIS_URL"] = redis_url
    # The demo's namespace only: tests run their own operator on their own namespaces.
    proc.start([venv_bin("modelops-operator"), "--standalone", "--namespace=default"], env=env)
