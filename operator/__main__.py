"""`modelops-operator`: `kopf run` on the operator's handlers with sensible defaults.

Extra arguments pass through to kopf (`--standalone`, `--namespace NS`, `--all-namespaces`,
`--verbose`, `--peering NAME`, `--liveness URL`); `--version` prints the operator's.
"""

from __future__ import annotations

import secrets
import sys
import time


def namespaces_in(argv: list[str]) -> list[str]:
    """The values of `-n`/`--namespace` arguments, in order."""
    found = []
    for i, a in enumerate(argv):
        if a in ("-n", "--namespace") and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif a.startswith("--namespace="):
            found.append(a.split("=", 1)[1])
    return found


def seniority(started_ms: int) -> int:
    """A peering priority: kopf pauses every replica but the highest-priority one. The earlier
    a replica started, the higher its priority, so the standby outranks a replica restarted
    after it (a killed leader's work goes to the standby, not back to its own restarted
    process) and an upgrade's new replicas never preempt the working one. The random part
    keeps replicas started in the same millisecond apart: equal priorities would all work
    side by side."""
    return (10**13 - started_ms) * 1000 + secrets.randbelow(1000)


def kopf_args(argv: list[str], namespaces: list[str] | None = None) -> list[str]:
    """kopf's arguments; `namespaces` (MODELOPS_NAMESPACES) scopes it unless argv does."""
    args = ["run", "-m", "modelops.operator.handlers"]
    scoped = any(
        a in ("-n", "--namespace", "-A", "--all-namespaces") or a.startswith("--namespace=")
        for a in argv
    )
    if not scoped:
        for ns in namespaces or []:
            args += ["--namespace", ns]
        if not namespaces:
            args.append("--all-namespaces")
    peering = any(a == "--peering" or a.startswith("--peering=") for a in argv)
    if peering and not any(a == "--priority" or a.startswith("--priority=") for a in argv):
        args.append(f"--priority={seniority(time.time_ns() // 1_000_000)}")
    return args + argv


def main(argv: list[str] | None = None) -> int:
    import json
    import os

    from kopf.cli import main as kopf_main

    from modelops.operator.settings import get_settings

    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:
        from importlib.metadata import version

        print(f"modelops-operator {version('modelops')}")
        return 0
    given = namespaces_in(argv)
    if given:
        # The resync loop lists what kopf watches: the same namespaces, from the settings.
        os.environ["MODELOPS_NAMESPACES"] = json.dumps(given)
        get_settings.cache_clear()
    args = kopf_args(argv, get_settings().namespaces)
    kopf_main(args=args, prog_name="modelops-operator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
