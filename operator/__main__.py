"""`modelops-operator`: run the kopf operator with sensible defaults."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("modelops-operator: the operator arrives with the ModelDeployment issue", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
