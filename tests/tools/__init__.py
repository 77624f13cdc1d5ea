"""Programs the tests run: each is built or fetched once, into ~/.cache/modelops, by its
scripts/get-*.sh (`make binaries` runs them all); kstatus-check's source is in kstatus/."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    """The path of the program scripts/get-`name`.sh provides (building it if missing)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / f"get-{name}.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]
