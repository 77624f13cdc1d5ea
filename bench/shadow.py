"""The client's cost of a shadow rollout: `modelops-runtime serve` with the stable version alone,
then with a candidate scoring a copy of every request (Shadow), measured in the same run.

    .venv/bin/python bench/shadow.py [--duration 10]

Registers two versions of a logistic regression (20 features) in a throwaway MLflow store and
drives POST /invocations with wrk (1 row; 1 and 8 connections) against each configuration in
turn, one server at a time. Prints p50/p99 and requests/s of both, the p50 difference in
milliseconds (the issue's bound: 1 ms) and the throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving

CONNECTIONS = (1, 8)


def register(work: Path) -> tuple[str, str, str, Any]:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    log = serving._runtime_helpers().log_sklearn_model
    tracking = f"sqlite:///{work / 'mlflow.db'}"
    x, y = make_classification(n_samples=5000, n_features=20, n_informative=15, random_state=0)
    stable = log(LogisticRegression(max_iter=500).fit(x, y), x[:5], "shadow-bench", tracking)
    flipped = LogisticRegression(max_iter=500, C=0.01).fit(x, y)
    candidate = log(flipped, x[:5], "shadow-bench", tracking)
    return tracking, stable, candidate, x


def start(uri: str, tracking: str, work: Path, candidate: str | None) -> serving.Server:
    if candidate is None:
        return serving.start_server("runtime", uri, tracking, work)
    # The configuration a shadow rollout gives its pods, from the file they follow.
    traffic = work / "traffic.json"
    traffic.write_text(json.dumps({"revision": 1, "mode": "shadow", "weight": 0}))
    env = {
        "CANDIDATE_MODEL_URI": candidate,
        "TRAFFIC_FILE": str(traffic),
        "TRAFFIC_PUSH_FILE": str(work / "pushed.json"),
    }
    saved = {k: serving.os.environ.get(k) for k in env}
    serving.os.environ.update(env)
    try:
        server = serving.start_server("runtime", uri, tracking, work)
    finally:
        for k, v in saved.items():
            if v is None:
                serving.os.environ.pop(k, None)
            else:
                serving.os.environ[k] = v
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="modelops-shadow-bench-"))
    serving.os.chdir(work)
    lua = work / "post.lua"
    lua.write_text(serving.LUA)
    try:
        tracking, stable, candidate, x = register(work)
        body = work / "one.json"
        body.write_text(json.dumps({"dataframe_split": {"data": x[:1].tolist()}}))
        rows = []
        for label, cand in (("stable alone", None), ("shadow", candidate)):
            server = start(stable, tracking, work, cand)
            url = f"http://127.0.0.1:{server.port}/invocations"
            try:
                serving.wrk(url, body, lua, 8, 2)  # warm up
                for conns in CONNECTIONS:
                    stats = serving.wrk(url, body, lua, conns, args.duration)
                    rows.append((label, conns, stats))
                    print(f"{label:12} {conns} conns: {stats}", flush=True)
                if cand is not None:
                    with serving.urllib.request.urlopen(
                        f"{url[: -len('/invocations')]}/metrics"
                    ) as r:
                        shadowed = [
                            line
                            for line in r.read().decode().splitlines()
                            if line.startswith("modelops_runtime_shadow_rows_total")
                        ]
                    print(f"shadow rows scored: {shadowed}")
                    if not shadowed:
                        print("the candidate scored nothing: not a shadow run", file=sys.stderr)
                        return 1
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| conns | stable p50 ms | shadow p50 ms | p50 added ms | stable req/s | shadow req/s "
          "| req/s ratio |\n| --- | --- | --- | --- | --- | --- | --- |")  # fmt: skip
    for conns in CONNECTIONS:
        base = next(s for label, c, s in rows if c == conns and label == "stable alone")
        shadow = next(s for label, c, s in rows if c == conns and label == "shadow")
        print(
            f"| {conns} | {base['p50']:.2f} | {shadow['p50']:.2f} | "
            f"{shadow['p50'] - base['p50']:+.2f} | {base['rps']:.0f} | {shadow['rps']:.0f} | "
            f"{shadow['rps'] / base['rps']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
