"""Wall time and peak memory of `modelops-runtime drift` on large synthetic data.

.venv/bin/python bench/drift_job.py --rows 100000 --columns 20
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(args.columns)]
    with tempfile.TemporaryDirectory() as tmp:
        ref, cur = Path(tmp) / "ref.parquet", Path(tmp) / "cur.parquet"
        pd.DataFrame(rng.normal(size=(args.rows, args.columns)), columns=names).to_parquet(ref)
        current = pd.DataFrame(rng.normal(size=(args.rows, args.columns)), columns=names)
        current[names[: args.columns // 4]] += 0.5  # a quarter of the columns drift
        current.to_parquet(cur)
        started = time.monotonic()
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "modelops-runtime"),
                "drift",
                "--reference",
                str(ref),
                "--current",
                str(cur),
            ],
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - started
    # ru_maxrss of the waited-for children, in KiB on Linux: the job's peak resident memory.
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{args.rows} reference x {args.rows} current rows, {args.columns} columns: "
        f"wall {wall:.1f} s, peak RSS {peak_mib:.0f} MiB, exit {done.returncode}, "
        f"drift share {result.get('driftShare')}, drifted {len(result.get('driftedColumns') or [])}"
    )
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
