"""`modelops-operator`: `kopf run` on the operator's handlers with sensible defaults.

Extra arguments pass through to kopf (`--standalone`, `--namespace NS`, `--all-namespaces`,
`--verbose`, `--peering NAME`, `--liveness URL`).
"""

from __future__ import annotations

import secrets
import sys


def kopf_args(argv: list[str]) -> list[str]:
    args = ["run", "-m", "modelops.operator.handlers"]
    scoped = any(
        a in ("-n", "--namespace", "-A", "--all-namespaces") or a.startswith("--namespace=")
        for a in argv
    )
    if not scoped:
        args.append("--all-namespaces")
    peering = any(a == "--peering" or a.startswith("--peering=") for a in argv)
    if peering and not any(a == "--priority" or a.startswith("--priority=") for a in argv):
        # kopf pauses every replica but the highest-priority one; equal priorities would all
        # keep working side by side, so each replica draws its own.
        args.append(f"--priority={secrets.randbelow(1_000_000) + 1}")
    return args + argv


def main(argv: list[str] | None = None) -> int:
    from kopf.cli import main as kopf_main

    kopf_main(args=kopf_args(sys.argv[1:] if argv is None else argv), prog_name="modelops-operator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
