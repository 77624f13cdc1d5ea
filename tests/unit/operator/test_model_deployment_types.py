"""The ModelDeployment types: examples validate, defaults and wire names are right."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment, ModelDeploymentSpec

ROOT = Path(__file__).resolve().parents[3]


def test_example_validates_and_round_trips() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "modeldeployment.yaml").read_text())
    md = ModelDeployment.model_validate(doc)
    assert md.spec.model.uri == "models:/fraud@champion"
    assert md.spec.wire()["autoscaling"]["targetCPUUtilizationPercentage"] == 70


def test_defaults() -> None:
    spec = ModelDeploymentSpec.model_validate({"model": {"uri": "models:/m/1"}})
    assert spec.batching.enabled and spec.batching.max_batch_size == 64
    assert spec.service.type == "ClusterIP" and spec.service.port == 80
    assert spec.prediction_log.enabled is False
    assert spec.replicas is None and spec.autoscaling is None and spec.suspend is False


@pytest.mark.parametrize(
    "uri",
    [
        "models:/fraud@champion",
        "models:/fraud/7",
        "models:/fraud/Production",
        "runs:/0123abcd/model",
        "s3://bucket/models/fraud",
        "/opt/models/fraud",
    ],
)
def test_known_uri_schemes_are_accepted(uri: str) -> None:
    ModelDeploymentSpec.model_validate({"model": {"uri": uri}})


@pytest.mark.parametrize(
    "uri", ["fraud", "models:/", "models:/a/b/c", "http://x/model", "models:/a@", "runs:/abc"]
)
def test_unknown_uris_are_rejected(uri: str) -> None:
    with pytest.raises(ValidationError):
        ModelDeploymentSpec.model_validate({"model": {"uri": uri}})
