"""Side-by-side benchmark: `mlflow models serve` versus `modelops-runtime serve`, with wrk.

    .venv/bin/python bench/serving.py [--duration 10] [--out bench/results.md]

Registers a 100-tree random forest (20 features, 3 classes) and a logistic regression in a
throwaway MLflow store, serves each model with both servers in turn (one server at a time on
this machine), drives POST /invocations with wrk at 1 and 32 connections with 1-row and
64-row bodies, and prints requests/s, p50, p99, rows/s, the server's CPU and RSS, the
in-process predict floor and the ratio to mlflow serve.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BIN = Path(sys.executable).parent
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.body = f:read("*a")
f:close()
"""
SCENARIOS = [(1, 1), (1, 32), (64, 1), (64, 32)]  # (rows per request, connections)


@dataclass
class Result:
    model: str
    server: str
    rows: int
    conns: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_pct: float
    rss_mb: float
    floor_ms: float

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runtime_helpers() -> Any:
    """The tests' runtime helpers (not in the runtime package, so not in its image)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "integration" / "runtime_helpers.py"
    spec = importlib.util.spec_from_file_location("runtime_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def register_models(store: Path) -> tuple[str, dict[str, Any], np.ndarray]:
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    log_sklearn_model = _runtime_helpers().log_sklearn_model

    tracking = f"sqlite:///{store / 'mlflow.db'}"
    x, y = make_classification(
        n_samples=5000, n_features=20, n_classes=3, n_informative=15, random_state=0
    )
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
    linear = LogisticRegression(max_iter=1000).fit(x, y)
    models = {
        "forest": (
            log_sklearn_model(
                forest, x[:5], "bench-forest", tracking,
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            ),
            forest,
        ),
        "logreg": (log_sklearn_model(linear, x[:5], "bench-logreg", tracking), linear),
    }  # fmt: skip
    return tracking, models, x


def predict_floor(estimator: Any, x: np.ndarray, rows: int) -> float:
    """Median milliseconds of the native estimator's predict on `rows` rows, in-process."""
    batch = x[:rows]
    for _ in range(20):
        estimator.predict(batch)
    times = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and len(times) < 2000:
        started = time.perf_counter()
        estimator.predict(batch)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


class Server:
    """A server process group we started, with its CPU time and memory."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path):
        self.name = name
        self.port = port
        self.log = log
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def _tree(self) -> list[Any]:
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:
                pass
        return total

    def rss_mb(self) -> float:
        total = 0
        for p in self._tree():
            try:
                total += p.memory_info().rss
            except Exception:
                pass
        return total / 2**20

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wrk(url: str, body: Path, lua: Path, conns: int, duration: int) -> dict[str, float]:
    threads = 1 if conns == 1 else 2
    out = subprocess.run(
        [
            shutil.which("wrk") or "/usr/bin/wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(lua),
            url,
        ],
        env={**os.environ, "BODY_FILE": str(body)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"timeout (\d+)"):
        m = re.search(pattern, out)
        if m:
            errors += int(m.group(1))
    return {
        "rps": rps,
        "p50": _latency(out, "50%"),
        "p99": _latency(out, "99%"),
        "errors": errors,
    }


def _latency(out: str, pct: str) -> float:
    m = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def start_server(kind: str, uri: str, tracking: str, work: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": tracking,
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    log = work / f"{kind}-{port}.log"
    if kind == "mlflow":
        server = Server(
            "mlflow serve",
            [str(BIN / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local",
             "-h", "127.0.0.1", "-p", str(port)],
            env, port, log,
        )  # fmt: skip
        server.wait_ready("/ping")
    else:
        env |= {"MODEL_URI": uri, "PORT": str(port), "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING"}
        argv = [str(BIN / "modelops-runtime"), "serve"]
        server = Server("modelops-runtime", argv, env, port, log)
        server.wait_ready("/ready")
    return server


def run(duration: int, out: Path | None) -> list[Result]:
    work = Path(tempfile.mkdtemp(prefix="modelops-bench-"))
    # A sqlite store keeps artifacts under ./mlruns: keep them in the throwaway folder too.
    os.chdir(work)
    lua = work / "post.lua"
    lua.write_text(LUA)
    print(f"registering models in {work} ...", flush=True)
    tracking, models, x = register_models(work)
    results: list[Result] = []
    try:
        for name, (uri, estimator) in models.items():
            floors = {rows: predict_floor(estimator, x, rows) for rows in (1, 64)}
            bodies = {}
            for rows in (1, 64):
                body = work / f"{name}-{rows}.json"
                body.write_text(json.dumps({"dataframe_split": {"data": x[:rows].tolist()}}))
                bodies[rows] = body
            for kind in ("mlflow", "runtime"):
                server = start_server(kind, uri, tracking, work)
                url = f"http://127.0.0.1:{server.port}/invocations"
                try:
                    wrk(url, bodies[1], lua, 8, 2)  # warm up
                    for rows, conns in SCENARIOS:
                        cpu0, t0 = server.cpu_seconds(), time.monotonic()
                        stats = wrk(url, bodies[rows], lua, conns, duration)
                        cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0) * 100
                        result = Result(
                            name, server.name, rows, conns, stats["rps"], stats["p50"],
                            stats["p99"], int(stats["errors"]), cpu, server.rss_mb(),
                            floors[rows],
                        )  # fmt: skip
                        results.append(result)
                        print(_row(result, None), flush=True)
                finally:
                    server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = render(results)
    print("\n" + table)
    if out is not None:
        out.write_text(table + "\n")
    return results


HEADER = (
    "| model | server | rows/req | conns | req/s | p50 ms | p99 ms | rows/s | CPU % | RSS MB "
    "| floor ms | vs mlflow |"
)


def _row(r: Result, ratio: float | None) -> str:
    vs = f"{ratio:.1f}x" if ratio is not None else "-"
    err = f" ({r.errors} errors)" if r.errors else ""
    return (
        f"| {r.model} | {r.server}{err} | {r.rows} | {r.conns} | {r.rps:,.0f} | {r.p50_ms:.2f} "
        f"| {r.p99_ms:.2f} | {r.rows_per_s:,.0f} | {r.cpu_pct:.0f} | {r.rss_mb:.0f} "
        f"| {r.floor_ms:.2f} | {vs} |"
    )


def render(results: list[Result]) -> str:
    base = {(r.model, r.rows, r.conns): r.rps for r in results if r.server == "mlflow serve"}
    lines = [HEADER, "|" + "---|" * 12]
    for r in results:
        ratio = None
        if r.server != "mlflow serve" and base.get((r.model, r.rows, r.conns)):
            ratio = r.rps / base[(r.model, r.rows, r.conns)]
        lines.append(_row(r, ratio))
    lines.append("")
    lines += targets(results, base)
    return "\n".join(lines)


def targets(results: list[Result], base: dict[tuple[str, int, int], float]) -> list[str]:
    ours = {(r.model, r.rows, r.conns): r for r in results if r.server == "modelops-runtime"}
    out = []
    f = ours.get(("forest", 1, 32))
    if f and base.get(("forest", 1, 32)):
        ratio = f.rps / base[("forest", 1, 32)]
        ok = ratio >= 10 and f.p99_ms < 100
        out.append(
            f"- forest, 1 row, 32 conns: {ratio:.1f}x mlflow serve, p99 {f.p99_ms:.1f} ms "
            f"(target >= 10x, p99 < 100 ms): {'met' if ok else 'MISSED'}"
        )
    lr = ours.get(("logreg", 1, 32))
    if lr:
        ok = lr.rps > 1000 and lr.p99_ms < 100
        out.append(
            f"- logreg, 1 row, 32 conns: {lr.rps:,.0f} req/s, p99 {lr.p99_ms:.1f} ms "
            f"(target > 1000 req/s, p99 < 100 ms): {'met' if ok else 'MISSED'}"
        )
    for model in ("forest", "logreg"):
        one = ours.get((model, 1, 1))
        if one:
            gap = one.p50_ms - one.floor_ms
            out.append(
                f"- {model}, 1 row, 1 conn: p50 {one.p50_ms:.2f} ms vs predict floor "
                f"{one.floor_ms:.2f} ms: +{gap:.2f} ms (target within 1 ms): "
                f"{'met' if gap <= 1 else 'MISSED'}"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    if not shutil.which("wrk") and not Path("/usr/bin/wrk").exists():
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2
    run(args.duration, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
