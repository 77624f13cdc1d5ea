"""The committed OpenAPI document: build it, write it, or check that it is current."""

# python -m modelops.serving_runtime.openapi          # rewrite serving_runtime/openapi.json
# python -m modelops.serving_runtime.openapi --check  # exit 1 when it is stale

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelops.serving_runtime.app import create_app
from modelops.serving_runtime.settings import RuntimeSettings

REGENERATE = "python -m modelops.serving_runtime.openapi"
DOCUMENT = Path(__file__).with_name("openapi.json")


def render() -> str:
    # The document does not depend on the model: any settings give the same one.
    app = create_app(RuntimeSettings(model_uri="models:/model/1", model_name="model"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    parser.add_argument("--out", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(f"{args.out} is stale: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
