"""`make reliability`: run the reliability and scale measurements and write their report,
docs/reliability-report.md, a table of each figure against its target with the run's date and
commit. The parts: the operator at scale, the serving soak, the faults under load.

    .venv/bin/python bench/reliability.py [--count 1000] [--only scale|soak|faults|report]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import operator_scale  # noqa: E402

# (figure, target, the figure's key, whether it meets the target; None: a figure for context)
Row = tuple[str, str, str, Callable[[Any], bool] | None]
SCALE_ROWS: list[Row] = [
    ("ModelDeployments applied at once, all Ready", "within 90 s", "ready_seconds",
     lambda v: v <= 90),
    ("the same Deployments and Services created without the operator, all available",
     "(the control plane's floor)", "peer_available_seconds", None),
    ("Ready time over the floor", "(the operator's share)", "ready_vs_peer", None),
    ("operator RSS once all Ready", "under 350 MiB", "rss_mib_ready", lambda v: v < 350),
    ("operator RSS at rest", "under 350 MiB", "rss_mib_rest", lambda v: v < 350),
    ("operator's apiserver requests at rest (audit log)", "under 10/s", "rest_apiserver_rps",
     lambda v: v < 10),
    ("MLflow calls at rest for pinned versions", "none", "rest_mlflow_pinned",
     lambda v: v == 0),
    ("MLflow calls at rest for the alias (half the objects, one URI)",
     "a few per poll interval", "rest_mlflow_calls", None),
    ("child writes on 50 status-only changes", "none", "status_change_child_writes",
     lambda v: v == 0),
    ("operator restart: settled (every object resumed, then quiet)", "within 60 s",
     "restart_settle_seconds", lambda v: v <= 60),
    ("operator restart: write requests", "none", "restart_writes", lambda v: v == 0),
    ("operator restart: objects rewritten", "none", "restart_rewritten_count",
     lambda v: v == 0),
]  # fmt: skip


# (the fault's key in tests/integration/test_faults.py's figures, what happened)
FAULTS = [
    ("kubelet", "the kubelet restarted"),
    ("containerd", "containerd restarted"),
    ("kube-apiserver", "kube-apiserver restarted"),
    ("etcd", "etcd restarted"),
    ("mlflow", "MLflow down while a pod starts (it waits not ready, joins when MLflow is back)"),
    ("redis_killed", "Redis killed (SIGKILL, 3 s down) under the cache and the log"),
    ("redis_firewalled", "Redis unreachable: its packets dropped (10 s or the hold)"),
    ("object_store", "the object store down when a drift run reads its reference (no load)"),
    (
        "leader",
        "the operator's leader killed mid-rollout (chart, 2 replicas; away: until the next step)",
    ),
]


def run_tests(module: str, out_variable: str, **env: str) -> tuple[bool, dict[str, Any]]:
    """An integration test module (tests/integration/`module`.py) run with `env`, its knobs;
    whether it passed, and the figures it wrote where `out_variable` told it."""
    out = ROOT / "build" / f"{module}.json"
    out.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", f"tests/integration/{module}.py", "-q", "-s",
         "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "MODELOPS_REAL_NODE"}
        | env
        | {out_variable: str(out)},
    )  # fmt: skip
    return run.returncode == 0, json.loads(out.read_text()) if out.exists() else {}


def faults(rate: float, after: float, redis_rate: float) -> dict[str, Any]:
    """tests/integration/test_faults.py at `rate` requests/s (`redis_rate` for the Redis
    faults), the load held `after` seconds past each fault; its figures, and whether every
    test passed."""
    passed, found = run_tests(
        "test_faults",
        "MODELOPS_FAULTS_OUT",
        MODELOPS_FAULT_RATE=str(rate),
        MODELOPS_FAULT_AFTER_SECONDS=str(after),
        MODELOPS_FAULT_REDIS_RATE=str(redis_rate),
    )
    return {
        "run": stamp(),
        "passed": passed,
        "rate": rate,
        "redis_rate": redis_rate,
        "after": after,
        "by_fault": found,
    }


def fault_table(run: dict[str, Any]) -> list[str]:
    lines = [
        "| fault | requests (rate/s) | non-2xx | connection errors | away or recovered | "
        "a change acted on after | every check held |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in FAULTS:
        f = run["by_fault"].get(key)
        if f is None:
            lines.append(f"| {label} | not measured | | | | | |")
            continue
        back = f.get("away_seconds", f.get("recovered_seconds"))
        after = f.get("converged_seconds")
        load = (
            f"{f['sent']} ({f['rate']}) | {f['non_2xx']} | {f['connection_errors']}"
            if "sent" in f
            else "- | - | -"
        )
        lines.append(
            f"| {label} | {load} | {back} s | "
            f"{'-' if after is None else f'{after} s'} | {'yes' if f.get('held') else '**no**'} |"
        )
    return lines


def soak(rate: int, seconds: int) -> dict[str, Any]:
    """tests/integration/test_soak.py at `rate` requests/s for `seconds`; its figures."""
    passed, found = run_tests(
        "test_soak",
        "MODELOPS_SOAK_OUT",
        MODELOPS_SOAK_RATE=str(rate),
        MODELOPS_SOAK_SECONDS=str(seconds),
    )
    return {"run": stamp(), "passed": passed, **found}


def soak_section(run: dict[str, Any] | None) -> list[str]:
    if not run or "requests" not in run:
        return [] if run is None else ["## The serving soak", "", "**It did not run.**", ""]
    verdict = "every check held" if run["passed"] else "**a check failed**"
    failed = run["requests"] - int(run["status_codes"].get("200", 0))
    return [
        "## The serving soak (the real node)",
        "",
        f"Run: {run['run']}.",
        "",
        f"{run['seconds']} s at {run['rate']} requests/s (vegeta, constant rate, 32 kept-alive "
        "connections) through the Service of two pods of a logistic regression, one row per "
        f"request, every row logged to Redis (sample rate 1); {verdict}. RSS is every process "
        "of both pods, from their cgroups; growth is from the end of the warm-up (a third of "
        "the run, at most 60 s) to the end.",
        "",
        "| figure | target | measured |",
        "|---|---|---|",
        f"| requests (answered per second) | {run['rate'] * run['seconds']} | "
        f"{run['requests']} ({run['throughput']}/s) |",
        f"| failed (non-200 or no answer) | 0 | {failed} |",
        f"| latency p50 / p99 / max | p99 < 100 ms | {run['p50_ms']} / {run['p99_ms']} / "
        f"{run['max_ms']} ms |",
        f"| pods' RSS after warm-up, at the end | growth < 10% | {run['rss_warm_mib']} MiB, "
        f"{run['rss_end_mib']} MiB ({run['rss_growth']:+.1%}) |",
        f"| log rows written / dropped / in the stream | equal to answered | "
        f"{run['rows_written']:.0f} / {run['rows_dropped']:.0f} / {run['rows_in_stream']} |",
        "",
    ]


def redis_table(run: dict[str, Any]) -> list[str]:
    """What the prediction log kept across the Redis faults, and what requests waited."""
    killed, blocked = run["by_fault"].get("redis_killed"), run["by_fault"].get("redis_firewalled")
    lines = []
    if killed:
        lines += [
            "| Redis killed: rows answered | written | dropped (counted) | in the stream after |",
            "|---|---|---|---|",
            f"| {killed['sent'] - killed['non_2xx'] - killed['connection_errors']} | "
            f"{killed['rows_written']:.0f} | {killed['rows_dropped']:.0f} | "
            f"{killed['rows_in_stream']} |",
            "",
        ]
    if blocked:
        errors = blocked["redis_errors_blocked"]
        lines += [
            "| Redis unreachable: p99 while blocked | max while blocked | Redis errors "
            "(cache, log) | rows dropped |",
            "|---|---|---|---|",
            f"| {blocked['p99_ms_blocked']} ms | {blocked['max_ms_blocked']} ms | "
            f"{errors['cache']:.0f}, {errors['prediction_log']:.0f} | "
            f"{blocked['rows_dropped']:.0f} |",
            "",
        ]
    return lines


def stamp() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}"


def commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.strip()
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def table(rows: list[Row], figures: dict[str, Any]) -> list[str]:
    lines = ["| figure | target | measured | |", "|---|---|---|---|"]
    for label, target, key, ok in rows:
        value = figures.get(key)
        mark = "" if value is None or ok is None else ("met" if ok(value) else "**missed**")
        lines.append(f"| {label} | {target} | {'not measured' if value is None else value} "
                     f"| {mark} |")  # fmt: skip
    return lines


def fault_section(run: dict[str, Any] | None) -> list[str]:
    if run is None:
        return []
    verdict = "every fault test passed" if run["passed"] else "**a fault test failed**"
    return [
        "## Faults under load",
        "",
        f"Run: {run['run']}.",
        "",
        f"Two pods of a logistic regression behind their Service; requests at {run['rate']:.0f}/s "
        "on fresh connections from 3 s before each restart to "
        f"{run['after']:.0f} s after the component serves again; every outcome counted "
        f"({verdict}). Away is from the stop to serving again (the apiserver ready, the "
        "kubelet's health endpoint, containerd's socket). MLflow stays down at least "
        f"{max(20, run['after']):.0f} s after the new pod says why it is not ready; recovered "
        "is from MLflow's return to that pod ready, and the load runs until it answers through "
        "the Service. The change acted on after a restart is a scale from 2 to 3 replicas, to "
        "Ready; after the apiserver's and etcd's, a deleted child restored as well (only a "
        "watch event does that).",
        "",
        f"The Redis faults run `modelops-runtime serve` (two workers) on this machine at "
        f"{run.get('redis_rate', run['rate']):.0f}/s, caching and logging every request "
        "(sample rate 1) to a Redis that fsyncs each write before acknowledging it, so the "
        "stream after a kill holds exactly what was acknowledged. Recovered is from Redis's "
        "return (or the rule's removal) until both the log writes and the cache answers "
        "again. A request's deadline is 1 s (a 504 past it would count as non-2xx). For the "
        "object store, recovered is from its return to a later run's success in status; the "
        f"failed run said: {run['by_fault'].get('object_store', {}).get('error')!r}.",
        "",
        *fault_table(run),
        "",
        *redis_table(run),
    ]


def report(figures: dict[str, Any]) -> str:
    count = figures["count"]
    return "\n".join(
        [
            "# Reliability and scale report",
            "",
            "GENERATED by `make reliability` (bench/reliability.py); the figures are this "
            "machine's, a run on another will differ.",
            "",
            f"- Run: {figures.get('run', 'not recorded')}",
            f"- Machine: {os.cpu_count()} cores; control plane, kwok nodes, MLflow and the "
            "operator all on it",
            "",
            f"## The operator with {count} ModelDeployments (kwok nodes)",
            "",
            "Half pin a version (`models:/scale/1`), half follow an alias (`@champion`). "
            "Requests are the apiserver's own record (its audit log, the operator running as "
            "its own user); MLflow calls are counted by a proxy in front of MLflow.",
            "",
            *table(SCALE_ROWS, figures),
            "",
            "Requests at rest, by verb and resource: "
            + json.dumps(figures.get("rest_apiserver_requests", {})),
            "",
            "Requests on the status-only changes: "
            + json.dumps(figures.get("status_change_requests", {})),
            "",
            f"Over {figures.get('rest_seconds')} s at rest; MLflow calls by path: "
            + json.dumps(figures.get("rest_mlflow_by_path", {})),
            "",
            *soak_section(figures.get("soak")),
            *fault_section(figures.get("faults")),
            "What each row must hold: docs/reliability.md.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rest", type=float, default=130.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability-report.md")
    parser.add_argument("--fault-rate", type=float, default=300.0)
    parser.add_argument("--fault-after", type=float, default=60.0)
    parser.add_argument("--redis-rate", type=float, default=500.0)
    parser.add_argument("--soak-rate", type=int, default=1000)
    parser.add_argument("--soak-seconds", type=int, default=600)
    parser.add_argument(
        "--only",
        choices=["scale", "soak", "faults", "report"],
        help="run one part, the others' figures the last run's (build/reliability.json); "
        "report: rewrite the report from those figures, measuring nothing",
    )
    args = parser.parse_args()
    saved = ROOT / "build" / "reliability.json"
    figures: dict[str, Any] = json.loads(saved.read_text()) if args.only and saved.exists() else {}
    if args.only in (None, "scale"):
        figures |= operator_scale.run(args.count, args.rest)
        figures["run"] = stamp()
        figures["rest_mlflow_pinned"] = sum(
            n for path, n in figures["rest_mlflow_by_path"].items() if "model-versions/get" in path
        )
        figures["restart_rewritten_count"] = len(figures["restart_rewritten"])
    if "count" not in figures:
        raise SystemExit("no scale figures yet: run it with --only scale first")
    if args.only in (None, "soak"):
        figures["soak"] = soak(args.soak_rate, args.soak_seconds)
    if args.only in (None, "faults"):
        figures["faults"] = faults(args.fault_rate, args.fault_after, args.redis_rate)
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps(figures, indent=2))
    args.out.write_text(report(figures))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
