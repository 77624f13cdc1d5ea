"""`modelops-operator`: `kopf run` on the operator's handlers with sensible defaults.

Extra arguments pass through to kopf (`--standalone`, `--namespace NS`, `--all-namespaces`,
`--verbose`, `--peering NAME`, `--liveness URL`).
"""

from __future__ import annotations

import sys


def kopf_args(argv: list[str]) -> list[str]:
    args = ["run", "-m", "modelops.operator.handlers"]
    scoped = any(
        a in ("-n", "--namespace", "-A", "--all-namespaces") or a.startswith("--namespace=")
        for a in argv
    )
    if not scoped:
        args.append("--all-namespaces")
    return args + argv


def main(argv: list[str] | None = None) -> int:
    from kopf.cli import main as kopf_main

    kopf_main(args=kopf_args(sys.argv[1:] if argv is None else argv), prog_name="modelops-operator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
