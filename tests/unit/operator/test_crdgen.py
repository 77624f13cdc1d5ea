"""The generated CRDs: current, structural, and faithful to the types."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.operator.api import crdgen

ROOT = Path(__file__).resolve().parents[3]


def test_committed_crds_are_current() -> None:
    files = crdgen.rendered_files()
    committed = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    assert committed == files, "crds/ is stale: run `make crds`"


def _walk(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for k, v in node.get("properties", {}).items():
            out += _walk(v, f"{path}.{k}")
        if isinstance(node.get("items"), dict):
            out += _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            out += _walk(node["additionalProperties"], f"{path}{{}}")
    return out


def test_every_schema_node_is_structural() -> None:
    for text in crdgen.rendered_files().values():
        crd = yaml.safe_load(text)
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for path, node in _walk(schema):
            assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
            assert node.get("additionalProperties") is not False, path
            assert "uniqueItems" not in node, path
            assert "type" in node or node.get("x-kubernetes-int-or-string"), path
            if path.startswith("$.spec") and not path.endswith(("[]", "{}")):
                assert node.get("description"), f"{path} has no description for kubectl explain"


def test_optional_unions_fold_into_the_type_and_exclusive_bounds_become_booleans() -> None:
    node = crdgen._structural(
        {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}], "default": None}
    )
    assert node == {"type": "number", "minimum": 0, "exclusiveMinimum": True}


def test_model_deployment_crd_names_columns_and_subresources() -> None:
    crd = yaml.safe_load(crdgen.rendered_files()["modelops.dev_modeldeployments.yaml"])
    names = crd["spec"]["names"]
    assert names["shortNames"] == ["mdep"] and names["categories"] == ["modelops"]
    version = crd["spec"]["versions"][0]
    assert set(version["subresources"]) == {"status", "scale"}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Ready",
        "Reason",
        "Model",
        "Version",
        "Replicas",
        "Rollout",
        "URL",
        "Message",
        "Age",
    ]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [r["rule"] for r in spec["x-kubernetes-validations"]]
    assert "!(has(self.replicas) && has(self.autoscaling))" in rules
    assert "targetCPUUtilizationPercentage" in spec["properties"]["autoscaling"]["properties"]


@pytest.mark.parametrize(
    "crd_file",
    [
        "modelops.dev_modeldeployments.yaml",
        "modelops.dev_driftmonitors.yaml",
        "modelops.dev_featurematerializations.yaml",
    ],
)
def test_every_kind_shows_ready_and_its_reason_first_and_the_message_wide(crd_file: str) -> None:
    crd = yaml.safe_load(crdgen.rendered_files()[crd_file])
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    ready = '.status.conditions[?(@.type=="Ready")]'
    assert [(c["name"], c["jsonPath"], c.get("priority", 0)) for c in columns[:2]] == [
        ("Ready", f"{ready}.status", 0),
        ("Reason", f"{ready}.reason", 0),
    ]
    message = next(c for c in columns if c["name"] == "Message")
    assert (message["jsonPath"], message["priority"]) == (f"{ready}.message", 1)


def _strings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "string":
            yield node
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_no_pattern_is_left_bare_and_each_rule_compiles() -> None:
    """The apiserver answers a bare `pattern` with the regex; every one in a spec is a CEL
    rule with a message instead, whose literal is the regex pydantic checks."""
    for text in crdgen.rendered_files().values():
        crd = yaml.safe_load(text)
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for node in _strings(schema["properties"]["spec"]):
            assert "pattern" not in node, node
            for rule in node.get("x-kubernetes-validations", []):
                if rule["rule"].startswith("self.matches('"):
                    literal = rule["rule"].removeprefix("self.matches('").removesuffix("')")
                    re.compile(literal.replace("\\\\", "\\"))
                    assert "must " in rule["message"] and "^" not in rule["message"]


def test_check_mode_reports_stale_files(tmp_path: Path) -> None:
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 1
    assert crdgen.main(["--out", str(tmp_path)]) == 0
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "modelops.dev_stale.yaml").write_text("x: 1\n")
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 1


def test_chart_crd_templates_are_current() -> None:
    files = crdgen.rendered_chart_files()
    chart_dir = ROOT / "charts" / "modelops" / "templates" / "crds"
    committed = {p.name: p.read_text() for p in chart_dir.glob("*.yaml")}
    assert committed == files, "chart CRDs are stale: run `make crds`"


# Short names of kinds a platform cluster commonly runs beside ours: Kubernetes' own, Cluster
# API (md: MachineDeployment, ms, mp, mhc), KServe (isvc), Seldon (sdep), cert-manager (cert),
# Argo CD (app), Flux (ks, hr). kubectl picks one silently when two kinds share a short name.
TAKEN_SHORT_NAMES = {
    "cm", "deploy", "ds", "rs", "sts", "svc", "hpa", "pdb", "pv", "pvc", "sa", "cj", "ns", "po",
    "md", "ms", "mp", "mhc", "cl", "isvc", "sdep", "cert", "app", "ks", "hr",
}  # fmt: skip


def test_short_names_avoid_those_of_common_neighbours() -> None:
    ours = {}
    for name, text in crdgen.rendered_files().items():
        ours[name] = set(yaml.safe_load(text)["spec"]["names"].get("shortNames", []))
    assert all(names for names in ours.values())
    taken = {file: names & TAKEN_SHORT_NAMES for file, names in ours.items()}
    assert not any(taken.values()), taken
