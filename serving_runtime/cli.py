"""`modelops-runtime`: serve a model, or run the drift, materialize and validate jobs."""

from __future__ import annotations

import argparse
import json
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


def _flags_into_environment(argv: list[str]) -> None:
    """`serve`'s flags, one per setting (--max-rows for MAX_ROWS), help from the settings'
    descriptions. A flag given wins over its variable: it is written into the environment,
    which every worker process reads its settings from."""
    from pydantic_settings import CliSettingsSource

    from modelops.serving_runtime.settings import RuntimeSettings

    flags: CliSettingsSource[RuntimeSettings] = CliSettingsSource(
        RuntimeSettings,
        cli_prog_name="modelops-runtime serve",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_hide_none_type=True,
        cli_avoid_json=True,
        cli_exit_on_error=True,
    )
    given = flags(args=argv)()
    for name, value in given.items():
        if isinstance(value, list):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        os.environ[name.upper()] = str(value)


def serve(argv: list[str] | None = None) -> int:
    """Run the HTTP server, configured by flags and the environment (docs/architecture.md)."""
    from pydantic import ValidationError

    from modelops.serving_runtime.settings import RuntimeSettings

    _flags_into_environment(argv or [])
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
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    if argv[:1] == ["validate"]:
        from modelops.serving_runtime.jobs import validate

        return validate.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="modelops-runtime",
        description="The modelops serving runtime and its jobs. `serve` takes a flag per "
        "setting (--model-uri, --port, ...; `serve --help` lists them) or its environment "
        "variable (MODEL_URI, PORT, ...); a flag wins.",
    )
    parser.add_argument(
        "--version", action="version", version=f"modelops-runtime {package_version()}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="serve a model over HTTP (`serve --help` for its flags)")
    commands.add_parser("drift", help="compare current data with the reference (Evidently)")
    commands.add_parser("materialize", help="materialize Feast views into the online store")
    commands.add_parser("validate", help="score a rollout's candidate on labelled holdout data")
    parser.parse_args(argv)  # --help, --version or a usage error: each exits
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
