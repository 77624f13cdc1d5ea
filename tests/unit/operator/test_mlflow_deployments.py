"""The MLflow deployments plugin's pure parts: config to spec, inputs to MLflow's scoring
protocol, status to what `get` answers, and that MLflow finds and accepts the plugin."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from modelops.operator import mlflow_deployments as plugin


def test_mlflow_finds_the_plugin_under_its_target_name() -> None:
    from mlflow.deployments.plugin_manager import DeploymentPlugins

    # MLflow's own check: run_local, target_help and exactly one client class.
    assert DeploymentPlugins()["modelops:/team-a"] is plugin
    assert "modelops:/NAMESPACE" in plugin.target_help()


def test_config_keys_become_spec_fields() -> None:
    spec = plugin.spec_from(
        "models:/fraud@champion",
        {
            "tracking_uri": "http://mlflow:5000",
            "min_replicas": "2",
            "max_replicas": "5",
            "cpu": "500m",
            "service_account": "model-runtime",
            "wait": "false",
            "spec": '{"batching": {"maxBatchSize": 32}, "runtime": {"workers": 2}}',
        },
    )
    assert spec == {
        "model": {"uri": "models:/fraud@champion", "trackingUri": "http://mlflow:5000"},
        "autoscaling": {"minReplicas": 2, "maxReplicas": 5},
        "runtime": {
            "resources": {"requests": {"cpu": "500m"}},
            "serviceAccountName": "model-runtime",
            "workers": 2,
        },
        "batching": {"maxBatchSize": 32},
    }
    assert plugin.spec_from(None, {"replicas": 3}) == {"replicas": 3}  # an update's patch


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"replica": "2"}, "unknown config key 'replica'; known: tracking_uri"),
        ({"replicas": "two"}, "config replicas must be a whole number, not 'two'"),
        ({"spec": "[1]"}, "config spec must be a JSON object"),
    ],
)
def test_bad_config_is_named(config: dict[str, str], message: str) -> None:
    with pytest.raises(MlflowException, match=message):
        plugin.spec_from("models:/m/1", config)


def test_a_flavor_other_than_pyfunc_is_refused() -> None:
    with pytest.raises(MlflowException, match="flavor 'onnx'"):
        plugin._check_flavor("onnx")
    plugin._check_flavor(None)
    plugin._check_flavor("python_function")


def test_inputs_are_sent_in_mlflows_scoring_protocol() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    assert plugin.invocations_body(frame) == {
        "dataframe_split": {
            "index": [0, 1],
            "columns": ["a", "b"],
            "data": [[1.0, 3.0], [2.0, 4.0]],
        }
    }
    assert plugin.invocations_body({"inputs": [[1, 2]]}) == {"inputs": [[1, 2]]}
    split = {"columns": ["a"], "data": [[1]]}
    assert plugin.invocations_body(split) == {"dataframe_split": split}
    assert plugin.invocations_body({"a": 1}) == {"dataframe_records": [{"a": 1}]}
    assert plugin.invocations_body([{"a": 1}, {"a": 2}]) == {
        "dataframe_records": [{"a": 1}, {"a": 2}]
    }
    assert plugin.invocations_body([[1, 2]]) == {"inputs": [[1, 2]]}
    with pytest.raises(MlflowException, match="inputs of type str"):
        plugin.invocations_body("1,2")


def test_get_answers_from_status() -> None:
    obj = {
        "metadata": {"name": "fraud", "namespace": "risk", "generation": 2},
        "spec": {"model": {"uri": "models:/fraud@champion"}},
        "status": {
            "model": {"version": "7"},
            "url": "http://fraud.risk.svc.cluster.local",
            "replicas": 2,
            "readyReplicas": 1,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "RollingOut", "message": "1/2"}
            ],
        },
    }
    assert plugin.summary(obj) == {
        "name": "fraud",
        "namespace": "risk",
        "flavor": "python_function",  # the MLflow CLI prints it
        "model_uri": "models:/fraud@champion",
        "version": "7",
        "ready": False,
        "reason": "RollingOut",
        "message": "1/2",
        "url": "http://fraud.risk.svc.cluster.local",
        "replicas": 2,
        "ready_replicas": 1,
    }
