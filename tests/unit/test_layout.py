"""The package layout: namespaced import names, the unshadowed stdlib, console scripts."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stdlib_operator_module_is_not_shadowed_from_repo_root() -> None:
    # Run from the repo root, where a folder named operator/ sits beside the interpreter's cwd.
    out = subprocess.run(
        [sys.executable, "-c", "import operator; print(operator.add(2, 3), operator.__file__)"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out[0] == "5"
    assert not out[1].startswith(str(ROOT))


def test_namespaced_packages_import_from_their_folders() -> None:
    import modelops.operator
    import modelops.serving_runtime

    assert Path(modelops.operator.__file__).parent == ROOT / "operator"
    assert Path(modelops.serving_runtime.__file__).parent == ROOT / "serving_runtime"


def test_every_source_package_is_listed_for_the_wheel() -> None:
    """An unlisted sub-package works in the editable install but is missing from images."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for prefix, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([prefix, *rel.parts]))
    assert found == listed


def test_console_scripts_are_installed() -> None:
    bindir = Path(sys.executable).parent
    for script in ("modelops-operator", "modelops-runtime", "mlflow", "feast"):
        assert (bindir / script).exists(), script
