"""The Makefile documents itself: every target is listed by `make help`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def targets() -> set[str]:
    found: set[str] = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        m = re.match(r"^([a-z][a-z0-9 _-]*):(?!=)", line)
        if m:
            found.update(m[1].split())
    return found


def test_help_lists_every_target() -> None:
    shown = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    listed = {
        w
        for line in shown.splitlines()
        if line.startswith("  make ")
        for w in line[len("  make ") :].split("  ")[0].split()
    }
    assert targets() - listed == set(), "targets without a `## ` help comment"
    assert "test" in listed and "demo" in listed
