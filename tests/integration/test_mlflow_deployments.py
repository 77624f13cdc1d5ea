"""The MLflow deployments plugin against the real control plane and node: the MLflow CLI and
Python API create a ModelDeployment, wait for its real pod, predict through the apiserver's
service proxy, get, list, update to another version and delete it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kubernetes import client

from .conftest import OperatorProcess
from .helpers import pod_report, register_model

pytestmark = pytest.mark.timeout(600)
ROWS = pd.DataFrame([[0.1, -0.2, 0.3, 0.4], [1.0, 0.5, -0.3, 0.2]], columns=["a", "b", "c", "d"])


def mlflow_cli(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "mlflow"), "deployments", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": kubeconfig},
        timeout=300,
    )


def test_the_mlflow_cli_and_api_drive_a_model_deployment(
    api_client: Any,
    cluster: dict[str, str],
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    operator: OperatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.deployments import get_deploy_client
    from mlflow.exceptions import MlflowException

    name = f"ml-{uuid.uuid4().hex[:6]}"
    register_model(mlflow_url, name)
    target = f"modelops:/{real_namespace}"
    kubeconfig = cluster["kubeconfig"]
    help_text = mlflow_cli(kubeconfig, "help", "-t", "modelops")
    assert help_text.returncode == 0 and "modelops:/NAMESPACE" in help_text.stdout

    # Create from the CLI: it waits for the real pod to be Ready.
    config = {
        "tracking_uri": pod_services["mlflow_ip"],
        "image": real_node["runtime"],
        "cpu": "100m",
        "timeout": "240",
    }
    flags = [a for k, v in config.items() for a in ("-C", f"{k}={v}")]
    created = mlflow_cli(
        kubeconfig, "create", "-t", target, "--name", name, "-m", f"models:/{name}@champion", *flags
    )
    if created.returncode != 0:
        print(pod_report(api_client, real_namespace))
    assert created.returncode == 0, created.stdout + created.stderr
    assert f"python_function deployment {name} is created" in created.stdout
    md = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "modelops.dev", "v1alpha1", real_namespace, "modeldeployments", name
    )
    model = md["spec"]["model"]
    assert (model["uri"], model["trackingUri"]) == (
        f"models:/{name}@champion",
        pod_services["mlflow_ip"],
    )

    again = mlflow_cli(
        kubeconfig, "create", "-t", target, "--name", name, "-m", f"models:/{name}@champion"
    )
    assert again.returncode != 0 and "already exists" in again.stderr

    # The Python API, as a notebook would use it.
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    deployments = get_deploy_client(target)
    got = deployments.get_deployment(name)
    assert got["ready"] is True and got["version"] == "1" and got["reason"] == "ModelServing"
    assert name in [d["name"] for d in deployments.list_deployments()]
    predictions = deployments.predict(name, ROWS)
    assert len(predictions.get_predictions()) == 2
    # What the CLI predicts for the same rows is the same.
    (tmp_path / "rows.json").write_text(ROWS.to_json())  # what `pd.read_json` reads back
    cli_predict = mlflow_cli(
        kubeconfig,
        "predict",
        "-t",
        target,
        "--name",
        name,
        "--input-path",
        str(tmp_path / "rows.json"),
    )
    assert cli_predict.returncode == 0, cli_predict.stderr
    assert json.loads(cli_predict.stdout) == json.loads(predictions.to_json())
    # A bad row: the runtime's 4xx, as an MLflow error naming the problem.
    with pytest.raises(MlflowException, match=r"refused the request \(400\)"):
        deployments.predict(name, pd.DataFrame([[1.0]], columns=["a"]))

    # Update to a pinned second version; it rolls out and serves it.
    register_model(mlflow_url, name, alias=None, seed=1)
    updated = deployments.update_deployment(
        name, model_uri=f"models:/{name}/2", config={"timeout": "240"}
    )
    assert updated["ready"] is True and updated["version"] == "2"

    # A spec the platform refuses fails at once with the reason, not at the timeout.
    with pytest.raises(MlflowException, match="serviceAccountName admin is not allowed"):
        deployments.create_deployment(
            f"{name}-x", f"models:/{name}@champion", config={"service_account": "admin"}
        )

    deleted = mlflow_cli(kubeconfig, "delete", "-t", target, "--name", name)
    assert deleted.returncode == 0, deleted.stderr
    with pytest.raises(MlflowException, match=f"no deployment '{name}'"):
        deployments.get_deployment(name)
