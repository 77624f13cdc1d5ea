"""The serving soak: a constant request rate through a ModelDeployment's Service on the real
node for a while, every request counted by vegeta (a constant-rate load generator: it keeps the
rate whatever the answers take, so a slow server shows as latency, not as fewer requests).
`make reliability` runs it for ten minutes at 1,000 requests/s; `make test` a short version."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis

from tests.tools import tool

from .conftest import OperatorProcess
from .helpers import DROPPED, WRITTEN, pod_pids, register_model, wait_for
from .test_pods import ROW, deploy, running_pods, service_url, wait_ready
from .test_runtime_redis import metric

RATE = int(os.environ.get("MODELOPS_SOAK_RATE", "500"))
SECONDS = int(os.environ.get("MODELOPS_SOAK_SECONDS", "45"))
# RSS growth is judged from here on: the first part warms the interpreter, the model and the
# allocator's arenas up.
WARM_SECONDS = min(60, SECONDS // 3)
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600 + 2 * SECONDS)


def vegeta() -> str:
    return tool("vegeta")


def pod_rss(uid: str) -> int:
    """Bytes resident in every process of a pod (its workers too)."""
    total = 0
    for pid in pod_pids(uid):
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def pod_metrics(ip: str) -> str:
    return httpx.get(f"http://{ip}:8080/metrics", timeout=5).text


def test_a_soak_at_a_constant_rate_fails_nothing_keeps_its_latency_memory_and_every_log_row(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    namespace, name = real_namespace, f"soak-{uuid.uuid4().hex[:6]}"
    register_model(mlflow_url, name)
    deploy(
        api_client,
        namespace,
        name,
        real_node["runtime"],
        pod_services["mlflow_ip"],
        replicas=2,
        predictionLog={
            "enabled": True,
            "redisUrl": pod_services["redis_ip"],
            "sampleRate": 1.0,
            # Every row kept: no count cap reached, no rate cap below the request rate.
            "maxLen": max(100_000, 2 * RATE * SECONDS),
            "maxRowsPerSecond": 10 * RATE,
        },
    )
    wait_ready(api_client, namespace, name, 240)
    url = service_url(api_client, namespace, name)
    pods = {p.metadata.uid: p.status.pod_ip for p in running_pods(api_client, namespace, name)}
    assert len(pods) == 2

    body = tmp_path / "row.json"
    body.write_text(json.dumps(ROW))
    targets = tmp_path / "targets"
    targets.write_text(f"POST {url}/predict\nContent-Type: application/json\n@{body}\n")
    results = tmp_path / "results.bin"
    rss: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss.append((time.monotonic(), sum(pod_rss(uid) for uid in pods)))
            done.wait(5)

    sampler = threading.Thread(target=sample, daemon=True)
    binary = vegeta()  # built first (a cold machine builds it), then the clock starts
    started = time.monotonic()
    sampler.start()
    # Kept-alive connections (a fresh one per request would run this host out of ports at
    # 1,000/s): 32 of them, each sent to a pod at random by the Service's rules.
    subprocess.run(
        [binary, "attack", f"-targets={targets}", f"-rate={RATE}/1s",
         f"-duration={SECONDS}s", "-timeout=10s", "-workers=32", f"-output={results}"],
        check=True,
    )  # fmt: skip
    done.set()
    sampler.join()
    report = json.loads(
        subprocess.run(
            [binary, "report", "-type=json", str(results)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    ok = int(report["status_codes"].get("200", 0))
    p99_ms = report["latencies"]["99th"] / 1e6

    # The log writes in the background, after each answer: wait until every row is counted.
    def counted() -> tuple[float, float] | None:
        texts = [pod_metrics(ip) for ip in pods.values()]
        written = sum(metric(t, WRITTEN) for t in texts)
        dropped = sum(metric(t, DROPPED) for t in texts)
        return (written, dropped) if written + dropped >= ok else None

    written, dropped = wait_for(counted, 30, f"all {ok} rows written or dropped")
    with redis.Redis.from_url(pod_services["redis_ip"]) as r:
        logged = int(r.xlen(f"modelops:predictions:{namespace}:{name}"))
    warm = next(b for t, b in rss if t - started >= WARM_SECONDS)
    growth = (rss[-1][1] - warm) / warm
    print(
        f"Soak {SECONDS}s at {RATE}/s through the Service: {report['requests']} requests "
        f"({report['throughput']:.0f}/s answered), statuses {report['status_codes']}, "
        f"errors {report['errors'][:3]}; p50 {report['latencies']['50th'] / 1e6:.1f} ms, "
        f"p99 {p99_ms:.1f} ms, max {report['latencies']['max'] / 1e6:.0f} ms; pods' RSS "
        f"{warm / 2**20:.0f} MiB at {WARM_SECONDS}s, {rss[-1][1] / 2**20:.0f} MiB at the end "
        f"({growth:+.1%}); log rows {written:.0f} written, {dropped:.0f} dropped, {logged} in "
        f"the stream"
    )
    out = os.environ.get("MODELOPS_SOAK_OUT")
    if out:
        Path(out).write_text(
            json.dumps(
                {
                    "seconds": SECONDS,
                    "rate": RATE,
                    "requests": report["requests"],
                    "throughput": round(report["throughput"]),
                    "status_codes": report["status_codes"],
                    "errors": report["errors"][:5],
                    "p50_ms": round(report["latencies"]["50th"] / 1e6, 1),
                    "p99_ms": round(p99_ms, 1),
                    "max_ms": round(report["latencies"]["max"] / 1e6),
                    "rss_warm_mib": round(warm / 2**20),
                    "rss_end_mib": round(rss[-1][1] / 2**20),
                    "rss_growth": round(growth, 4),
                    "rows_written": written,
                    "rows_dropped": dropped,
                    "rows_in_stream": logged,
                },
                indent=2,
            )
        )
    assert ok == report["requests"], (report["status_codes"], report["errors"][:5])
    assert report["requests"] >= 0.98 * RATE * SECONDS, "the load generator kept the rate"
    assert p99_ms < 100, f"p99 {p99_ms:.1f} ms"
    assert growth < 0.10, f"RSS grew {growth:.1%} after the first {WARM_SECONDS}s"
    assert dropped == 0 and written == ok == logged, (written, dropped, ok, logged)
