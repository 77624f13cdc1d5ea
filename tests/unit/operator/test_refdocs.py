"""The generated API reference: current, complete, and refused when stale."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.operator.api import refdocs

ROOT = Path(__file__).resolve().parents[3]
CRDS = ROOT / "crds"
API_MD = ROOT / "docs" / "api.md"
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def test_committed_api_reference_is_current() -> None:
    assert API_MD.read_text() == refdocs.render(refdocs.load(CRDS)), (
        "docs/api.md is stale: run `make api-docs`"
    )
    assert API_MD.read_text().startswith("<!-- GENERATED") and "DO NOT EDIT" in refdocs.HEADER


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any], bool]]:
    """Every property node of a schema, found independently of the generator."""
    out = []
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        out.append((child_path, child, name in node.get("required", [])))
        out += _walk(child, child_path)
    if isinstance(node.get("items"), dict):
        out += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        out += _walk(node["additionalProperties"], f"{path}{{}}")
    return out


def _sections(text: str) -> dict[str, list[list[str]]]:
    """Each kind's field rows, split into unescaped cells (`field` first)."""
    sections: dict[str, list[list[str]]] = {}
    kind = None
    for line in text.splitlines():
        if line.startswith("## "):
            kind = line[3:].strip()
            sections[kind] = []
        elif kind and line.startswith("| `"):
            cells = [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(line)[1:-1]]
            sections[kind].append(cells)
    return sections


def test_every_field_of_every_crd_is_documented() -> None:
    sections = _sections(API_MD.read_text())
    crds = [yaml.safe_load(p.read_text()) for p in sorted(CRDS.glob("*.yaml"))]
    assert sorted(sections) == sorted(c["spec"]["names"]["kind"] for c in crds)
    for crd in crds:
        kind = crd["spec"]["names"]["kind"]
        version = crd["spec"]["versions"][0]
        rows = {r[0].strip("`"): r for r in sections[kind] if len(r) == 6}
        walked = _walk(version["schema"]["openAPIV3Schema"])
        assert len(rows) == len(walked), f"{kind}: a field is missing or listed twice"
        for path, node, required in walked:
            assert path in rows, f"{kind} {path} is not documented"
            _, type_, req, default, description, validation = rows[path]
            where = f"{kind} {path}"
            assert type_ and req == ("yes" if required else ""), where
            assert " ".join(node.get("description", "").split()) in description, where
            if "default" in node:
                assert default == f"`{json.dumps(node['default'])}`", where
            for value in node.get("enum", []):
                assert f"`{value}`" in validation, where
            for key in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
                if key in node:
                    assert str(node[key]) in validation, f"{where} {key}"
            if "pattern" in node:
                assert node["pattern"] in validation, where
            for rule in node.get("x-kubernetes-validations", []):
                assert rule["message"] in validation and rule["rule"] in validation, where
        chunk = API_MD.read_text().split(f"\n## {kind}\n", 1)[1].split("\n## ", 1)[0]
        for column in version["additionalPrinterColumns"]:
            assert f"| {column['name']} | {column['type']} | `{column['jsonPath']}` |" in chunk


def test_every_table_row_has_as_many_cells_as_its_header() -> None:
    width = None
    for line in API_MD.read_text().splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = len(_CELL_SPLIT.split(line))
        width = width or cells
        assert cells == width, line


def test_header_names_and_printer_columns_of_each_kind() -> None:
    text = API_MD.read_text()
    md = text[text.index("## ModelDeployment") :]
    assert "| short names | `mdep` |" in md and "| categories | `modelops` |" in md
    assert '| Ready | string | `.status.conditions[?(@.type=="Ready")].status` | 0 |  |' in md
    assert "`scale`, specReplicasPath `.spec.replicas`" in md
    assert "CEL on `.replicas`: set replicas or autoscaling, not both" in md


def test_check_fails_on_a_stale_file_and_never_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "api.md"
    args = ["--crds", str(CRDS), "--out", str(out)]
    assert refdocs.main([*args, "--check"]) == 1  # missing
    assert not out.exists()
    assert refdocs.main(args) == 0
    assert refdocs.main([*args, "--check"]) == 0
    out.write_text(out.read_text().replace("The most rows in one model call.", "Old text."))
    capsys.readouterr()
    assert refdocs.main([*args, "--check"]) == 1
    assert "is stale: run `make api-docs`" in capsys.readouterr().err
    assert "Old text." in out.read_text()


def test_output_is_deterministic() -> None:
    assert refdocs.render(refdocs.load(CRDS)) == refdocs.render(refdocs.load(CRDS))
