"""`python -m modelops.serving_runtime` is `modelops-runtime`."""

from modelops.serving_runtime.cli import main

raise SystemExit(main())
