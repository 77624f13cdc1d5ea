"""Golden files: what the builders render for every custom resource in examples/.

Each case renders one child the operator would apply for an example and compares it, as YAML,
with a committed file golden/<example>__<kind>_<name>.yaml (example: the examples/ file's
stem; kind: the child's kind in lower case; name: the child's metadata.name).

A change in a builder's output fails with a unified diff. When the change is intended,
regenerate the files and review the diff in the commit:

    UPDATE_GOLDEN=1 pytest tests/unit/operator/resources/test_golden.py     # or: make golden

Without UPDATE_GOLDEN a missing golden file fails (it is never created silently), and so does
a golden file that no example renders any more (UPDATE_GOLDEN=1 deletes it).

The inputs are fixed: the namespace, uid and generation below, OperatorSettings built from
arguments only (never the MODELOPS_* environment) and a resolved model version; no clock.
"""

from __future__ import annotations

import difflib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor
from modelops.operator.api.v1alpha1.feature_materialization import FeatureMaterialization
from modelops.operator.api.v1alpha1.model_deployment import (
    ModelDeployment,
    ModelDeploymentStatus,
    ResolvedModel,
)
from modelops.operator.resources.drift_monitor import build_drift_cronjob, drift_target
from modelops.operator.resources.feature_materialization import build_materialize_cronjob
from modelops.operator.resources.model_deployment import (
    RolloutPods,
    desired_children,
    takes_rollouts,
)
from modelops.operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[4]
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
REGENERATE = "UPDATE_GOLDEN=1 pytest tests/unit/operator/resources/test_golden.py (make golden)"
HEADER = "# Rendered from examples/{source}; regenerate with `make golden`, do not edit.\n"

NAMESPACE = "ml"
GENERATION = 1
RESOLVED_VERSION = "7"
RUN_ID = "0123456789abcdef0123456789abcdef"


class PinnedSettings(OperatorSettings):
    """OperatorSettings from its arguments only: a MODELOPS_* variable in the developer's
    shell must not change the golden output."""

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
        cls, settings_cls: Any, init_settings: Any, **_environment_sources: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)


GOLDEN_PUBLIC_KEY = "Z29sZGVuLXB1YmxpYy1rZXktMzItYnl0ZXMtbG9uZyE="
SETTINGS = PinnedSettings(
    mlflow_tracking_uri="http://mlflow.test:5000",
    runtime_image="registry.test/modelops/runtime:1.2.3",
    redis_url="redis://redis.test:6379/0",
    cluster_domain="cluster.test",
)


def with_fixed_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """The example as the apiserver would hand it over: namespaced, with a uid."""
    meta = dict(doc["metadata"])
    meta.setdefault("namespace", NAMESPACE)
    meta["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelops.dev/{doc['kind']}/{meta['name']}"))
    meta["generation"] = GENERATION
    return {**doc, "metadata": meta}


def resolved_model(md: ModelDeployment) -> ResolvedModel:
    """What the registry would pin the example's model URI to."""
    uri = md.spec.model.uri
    match = re.match(r"^models:/([^/@]+)", uri)
    if match is None:  # runs:/, s3://, a path: served as written
        return ResolvedModel(uri=uri, resolved_uri=uri)
    name = match.group(1)
    return ResolvedModel(
        uri=uri,
        resolved_uri=f"models:/{name}/{RESOLVED_VERSION}",
        name=name,
        version=RESOLVED_VERSION,
        run_id=RUN_ID,
    )


@dataclass(frozen=True)
class Example:
    source: str
    doc: dict[str, Any]


def load_examples() -> list[Example]:
    examples = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("modelops.dev/"):
                examples.append(Example(path.name, with_fixed_metadata(doc)))
    return examples


def _find(examples: list[Example], kind: str, name: str, wanted_by: Example) -> dict[str, Any]:
    for ex in examples:
        if ex.doc["kind"] == kind and ex.doc["metadata"]["name"] == name:
            return ex.doc
    raise AssertionError(f"examples/{wanted_by.source} refers to {kind} {name}: not in examples/")


def render(example: Example, examples: list[Example]) -> list[dict[str, Any]]:
    """The children the operator applies for one example, through the same builders."""
    doc, kind = example.doc, example.doc["kind"]
    if kind == "ModelDeployment":
        md = ModelDeployment.model_validate(doc)
        store = None
        if md.spec.features is not None:
            ref = md.spec.features.materialization_ref.name
            fm = _find(examples, "FeatureMaterialization", ref, example)
            store = FeatureMaterialization.model_validate(fm).spec.feature_store
        # Between rollouts: the pods hold the operator's public key and read the split.
        rollout = None
        if takes_rollouts(md):
            rollout = RolloutPods(GOLDEN_PUBLIC_KEY, None, {"revision": 0, "mode": "none"})
        return desired_children(md, resolved_model(md), SETTINGS, store, rollout)
    if kind == "DriftMonitor":
        dm = DriftMonitor.model_validate(doc)
        md_doc = _find(examples, "ModelDeployment", dm.spec.model_deployment_ref.name, example)
        md = ModelDeployment.model_validate(md_doc)
        md.status = ModelDeploymentStatus(model=resolved_model(md))
        return [build_drift_cronjob(dm, drift_target(md, SETTINGS), SETTINGS)]
    if kind == "FeatureMaterialization":
        return [build_materialize_cronjob(FeatureMaterialization.model_validate(doc), SETTINGS)]
    raise AssertionError(f"examples/{example.source}: no golden rendering for kind {kind}")


class _NoAliasDumper(yaml.SafeDumper):
    """Every value written out in full: a dict the builder happens to share (labels) must not
    turn into an anchor and alias, which would change with object identity, not content."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(source: str, child: dict[str, Any]) -> str:
    body = yaml.dump(
        child, Dumper=_NoAliasDumper, sort_keys=True, default_flow_style=False, width=1000
    )
    return HEADER.format(source=source) + body


def golden_cases() -> dict[str, str]:
    """golden file name -> the YAML it must hold."""
    examples = load_examples()
    cases: dict[str, str] = {}
    for example in examples:
        stem = Path(example.source).stem
        for child in render(example, examples):
            name = f"{stem}__{child['kind'].lower()}_{child['metadata']['name']}.yaml"
            assert name not in cases, f"two children render to golden/{name}"
            cases[name] = to_yaml(example.source, child)
    return cases


CASES = golden_cases()


def test_every_example_kind_has_golden_output() -> None:
    kinds = {Path(name).stem.split("__")[0] for name in CASES}
    assert kinds == {p.stem for p in EXAMPLES.glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendered_child_matches_golden_file(name: str) -> None:
    path = GOLDEN / name
    actual = CASES[name]
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        if not path.exists() or path.read_text() != actual:
            path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"golden file {path.relative_to(ROOT)} is missing: run {REGENERATE}")
    expected = path.read_text()
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{name} (committed)",
                tofile=f"golden/{name} (rendered now)",
            )
        )
        pytest.fail(
            f"the builders' output changed; if intended, run {REGENERATE}\n{diff}", pytrace=False
        )


def test_no_golden_file_is_stale() -> None:
    stale = sorted(p.name for p in GOLDEN.glob("*.yaml") if p.name not in CASES)
    if UPDATE:
        for name in stale:
            (GOLDEN / name).unlink()
        return
    assert not stale, f"no example renders these golden files any more: {stale}; {REGENERATE}"
