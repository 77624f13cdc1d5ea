"""`modelops-runtime`: serve a model, or run the drift, materialize and validate jobs."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from typing import Any

from modelops.serving_runtime import package_version


def _prepare_multiprocess_metrics(workers: int) -> None:
    """Several workers need prometheus-client's multiprocess mode, set up before any worker
    (or this process) imports prometheus_client: the value store is chosen at import."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if workers <= 1 and not directory:
        return
    if not directory:
        directory = tempfile.mkdtemp(prefix="modelops-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    # Files left by an earlier run would be summed into this one's counters.
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def serve() -> int:
    """Run the HTTP server, configured from the environment only."""
    from pydantic import ValidationError

    from modelops.serving_runtime.settings import RuntimeSettings

    try:
        settings = RuntimeSettings()  # type: ignore[call-arg]
    except ValidationError as e:
        print(f"modelops-runtime: invalid configuration:\n{e}", file=sys.stderr)
        return 2
    _prepare_multiprocess_metrics(settings.workers)

    import uvicorn

    from modelops.serving_runtime import logs

    logs.configure(settings.log_level)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_config": logs.log_config(settings.log_level),
        # An access log line per request costs more than a cheap prediction; requests are
        # counted and timed in /metrics instead.
        "access_log": False,
        "server_header": False,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # SIGTERM: stop accepting, let in-flight requests finish, then exit.
        "timeout_graceful_shutdown": math.ceil(settings.graceful_shutdown_seconds),
    }
    if settings.workers > 1:
        uvicorn.run(
            "modelops.serving_runtime.app:app_from_env",
            factory=True,
            workers=settings.workers,
            **common,
        )
    else:
        from modelops.serving_runtime.app import create_app

        uvicorn.run(create_app(settings), **common)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The jobs own their flags; everything after the subcommand is theirs.
    if argv[:1] == ["drift"]:
        from modelops.serving_runtime.jobs import drift

        return drift.main(argv[1:])
    if argv[:1] == ["materialize"]:
        from modelops.serving_runtime.jobs import materialize

        return materialize.main(argv[1:])
    if argv[:1] == ["validate"]:
        from modelops.serving_runtime.jobs import validate

        return validate.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="modelops-runtime",
        description="The modelops serving runtime and its jobs. Configured by environment "
        "variables (MODEL_URI, MLFLOW_TRACKING_URI, PORT, ...), not flags.",
    )
    parser.add_argument(
        "--version", action="version", version=f"modelops-runtime {package_version()}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="serve MODEL_URI over HTTP (port PORT, default 8080)")
    commands.add_parser("drift", help="compare current data with the reference (Evidently)")
    commands.add_parser("materialize", help="materialize Feast views into the online store")
    commands.add_parser("validate", help="score a rollout's candidate on labelled holdout data")
    parser.parse_args(argv)  # `serve`, or --help / a usage error
    return serve()


if __name__ == "__main__":
    raise SystemExit(main())
