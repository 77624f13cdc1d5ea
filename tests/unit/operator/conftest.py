"""Shared objects for operator unit tests."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment, ResolvedModel
from modelops.operator.settings import OperatorSettings


def make_md(spec: dict[str, Any] | None = None, **meta: Any) -> ModelDeployment:
    return ModelDeployment.model_validate(
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {
                "name": "fraud",
                "namespace": "risk",
                "uid": "0000-1111",
                "generation": 3,
                **meta,
            },
            "spec": spec or {"model": {"uri": "models:/fraud@champion"}},
        }
    )


@pytest.fixture
def settings() -> OperatorSettings:
    return OperatorSettings(
        mlflow_tracking_uri="http://mlflow.test:5000", runtime_image="registry.test/runtime:1"
    )


@pytest.fixture
def resolved() -> ResolvedModel:
    return ResolvedModel(
        uri="models:/fraud@champion",
        resolved_uri="models:/fraud/7",
        name="fraud",
        version="7",
        run_id="abc123",
    )
