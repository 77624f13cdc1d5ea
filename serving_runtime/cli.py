"""`modelops-runtime`: serve a model, or run the drift and materialize jobs."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("modelops-runtime: subcommands arrive with the serving runtime issue", file=sys.stderr)
    return 2
