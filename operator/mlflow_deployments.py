"""The MLflow deployments plugin (entry point `mlflow.deployments`, target `modelops`): the MLflow
CLI and Python API create, update, get, list, delete and query ModelDeployments.

    mlflow deployments create -t modelops:/team-a --name fraud -m models:/fraud@champion
    mlflow deployments predict -t modelops:/team-a --name fraud --input-path rows.json

It talks to the cluster the current kubeconfig (KUBECONFIG) names, with the user's own rights,
and reaches a deployment's Service through the apiserver's service proxy: no port-forward."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Any, cast
from urllib.parse import urlsplit

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)

GROUP, VERSION, PLURAL, KIND = "modelops.dev", "v1alpha1", "modeldeployments", "ModelDeployment"
# Config keys (`-C key=value`) and where each goes in the spec.
CONFIG_KEYS = {
    "tracking_uri": ("model", "trackingUri"),
    "replicas": ("replicas",),
    "min_replicas": ("autoscaling", "minReplicas"),
    "max_replicas": ("autoscaling", "maxReplicas"),
    "image": ("runtime", "image"),
    "cpu": ("runtime", "resources", "requests", "cpu"),
    "memory": ("runtime", "resources", "requests", "memory"),
    "service_account": ("runtime", "serviceAccountName"),
}
INTEGER_KEYS = {"replicas", "min_replicas", "max_replicas"}
WAIT_KEYS = {"wait", "timeout"}
PANDAS_PROTOCOL_KEYS = {"dataframe_split", "dataframe_records", "instances", "inputs"}


def target_help() -> str:
    return """\
modelops: ModelDeployments on a Kubernetes cluster running the modelops operator.

Target URI: `modelops` (the current kubeconfig context's namespace) or `modelops:/NAMESPACE`.
The cluster and credentials are the current kubeconfig's (KUBECONFIG): your own rights, as
with kubectl. The model URI is a registry URI, models:/NAME@ALIAS or models:/NAME/VERSION.

Config (-C key=value on create and update):
  tracking_uri    the MLflow registry the pods load from (the operator's by default)
  replicas        a fixed number of pods
  min_replicas, max_replicas   autoscale between these (an HPA on CPU)
  image           the serving runtime image
  cpu, memory     the pods' requests, e.g. 500m and 1Gi
  service_account a ServiceAccount of the namespace the pods run as (if the platform allows)
  spec            a JSON object merged into the ModelDeployment's spec (anything else)
  wait            wait until Ready (true by default); timeout: how long, in seconds (300)

predict sends the input to the deployment's /invocations (MLflow's scoring protocol) through
the apiserver's service proxy: the caller needs `create` on services/proxy in the namespace.
"""


def run_local(
    target: str, name: str, model_uri: str, flavor: str | None = None, config: Any = None
) -> None:
    """Serve the model on this machine with the serving runtime (it must be installed:
    `pip install modelops[runtime]`), on port 8080 until interrupted."""
    _check_flavor(flavor)
    # The runtime's own program, not an import: the operator's package never imports it.
    program = shutil.which("modelops-runtime")
    if program is None:
        raise MlflowException(
            "run_local needs the serving runtime: pip install 'modelops[runtime]'"
        )
    subprocess.run([program, "serve", "--model-uri", model_uri, "--model-name", name], check=True)


def _check_flavor(flavor: str | None) -> None:
    if flavor not in (None, "python_function"):
        raise MlflowException(
            f"flavor {flavor!r}: modelops serves the model's python_function flavor (or its "
            "scikit-learn model directly); leave --flavor out",
            INVALID_PARAMETER_VALUE,
        )


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() not in ("false", "0", "no", "off")


def spec_from(model_uri: str | None, config: dict[str, Any] | None) -> dict[str, Any]:
    """The ModelDeployment spec (or the part of it to merge) a model URI and config ask for."""
    spec: dict[str, Any] = {}
    if model_uri is not None:
        spec["model"] = {"uri": model_uri}
    for key, value in (config or {}).items():
        if key in WAIT_KEYS:
            continue
        if key == "spec":
            extra = json.loads(value) if isinstance(value, str) else value
            if not isinstance(extra, dict):
                raise MlflowException("config spec must be a JSON object", INVALID_PARAMETER_VALUE)
            spec = _merge(spec, extra)
            continue
        if key not in CONFIG_KEYS:
            known = ", ".join([*CONFIG_KEYS, "spec", *sorted(WAIT_KEYS)])
            raise MlflowException(
                f"unknown config key {key!r}; known: {known}", INVALID_PARAMETER_VALUE
            )
        if key in INTEGER_KEYS:
            try:
                value = int(value)
            except ValueError:
                raise MlflowException(
                    f"config {key} must be a whole number, not {value!r}", INVALID_PARAMETER_VALUE
                ) from None
        node = spec
        *parents, leaf = CONFIG_KEYS[key]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return spec


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def invocations_body(inputs: Any) -> dict[str, Any]:
    """MLflow's scoring protocol: a DataFrame as dataframe_split, a dict already in the
    protocol as is, records (a list of dicts) as dataframe_records, other lists as inputs."""
    if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):  # a pandas DataFrame
        return {"dataframe_split": inputs.to_dict(orient="split")}
    if isinstance(inputs, dict):
        if PANDAS_PROTOCOL_KEYS & set(inputs):
            return inputs
        return (
            {"dataframe_split": inputs}
            if {"columns", "data"} <= set(inputs)
            else {"dataframe_records": [inputs]}
        )
    if isinstance(inputs, list):
        if inputs and all(isinstance(row, dict) for row in inputs):
            return {"dataframe_records": inputs}
        return {"inputs": inputs}
    raise MlflowException(
        f"inputs of type {type(inputs).__name__}: give a DataFrame, a dict or a list",
        INVALID_PARAMETER_VALUE,
    )


def summary(obj: dict[str, Any]) -> dict[str, Any]:
    """What `get` and `create` answer: the deployment as MLflow users read it."""
    status = obj.get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    ready = conditions.get("Ready") or {}
    model = status.get("model") or {}
    return {
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"]["namespace"],
        "flavor": "python_function",
        "model_uri": obj["spec"]["model"]["uri"],
        "version": model.get("version"),
        "ready": ready.get("status") == "True",
        "reason": ready.get("reason"),
        "message": ready.get("message"),
        "url": status.get("url"),
        "replicas": status.get("replicas"),
        "ready_replicas": status.get("readyReplicas"),
    }


class ModelopsDeploymentClient(BaseDeploymentClient):
    """ModelDeployments in one namespace (the target URI's, or the kubeconfig context's)."""

    def __init__(self, target_uri: str) -> None:
        super().__init__(target_uri)  # type: ignore[no-untyped-call]
        # KUBECONFIG as it is now: the client library reads it once, when first imported.
        kubeconfig = os.environ.get("KUBECONFIG") or None
        try:
            config.load_kube_config(config_file=kubeconfig)
            _, context = config.list_kube_config_contexts(config_file=kubeconfig)
            default_namespace = (context or {}).get("context", {}).get("namespace")
        except config.ConfigException:
            config.load_incluster_config()
            default_namespace = None
        path = urlsplit(target_uri).path.strip("/") if ":" in target_uri else ""
        self.namespace = path or default_namespace or "default"
        self.custom = client.CustomObjectsApi()
        self.core = client.CoreV1Api()

    # -- the kubernetes calls, with the apiserver's refusals as MLflow errors

    def _read(self, name: str) -> dict[str, Any]:
        try:
            found = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as e:
            if e.status == 404:
                raise MlflowException(
                    f"no deployment {name!r} in namespace {self.namespace}",
                    RESOURCE_DOES_NOT_EXIST,
                ) from None
            raise _refused(e) from None
        return cast(dict[str, Any], found)

    def _wait(self, name: str, config: dict[str, Any] | None) -> dict[str, Any]:
        """The deployment once Ready for its current generation; a Stalled one (waiting will
        not help) or the timeout raises with the reason."""
        options = config or {}
        obj = self._read(name)
        if not _truthy(options.get("wait", True)):
            return obj
        deadline = time.monotonic() + float(options.get("timeout", 300))
        while True:
            status = obj.get("status") or {}
            fresh = status.get("observedGeneration") == obj["metadata"].get("generation")
            conditions = {c["type"]: c for c in status.get("conditions") or []}
            ready, stalled = conditions.get("Ready"), conditions.get("Stalled")
            if fresh and ready and ready["status"] == "True":
                return obj
            if fresh and stalled and stalled["status"] == "True":
                raise MlflowException(
                    f"deployment {name} cannot become Ready: {stalled['reason']}: "
                    f"{stalled.get('message', '')}",
                    INVALID_PARAMETER_VALUE,
                )
            if time.monotonic() > deadline:
                said = f"{ready['reason']}: {ready.get('message', '')}" if ready else "no status"
                raise MlflowException(f"deployment {name} is not Ready yet ({said})")
            time.sleep(2)
            obj = self._read(name)

    # -- the plugin interface

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        _check_flavor(flavor)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name},
            "spec": spec_from(model_uri, config),
        }
        try:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body
            )
        except ApiException as e:
            if e.status == 409:
                raise MlflowException(
                    f"deployment {name!r} already exists in namespace {self.namespace}; use update",
                    RESOURCE_ALREADY_EXISTS,
                ) from None
            raise _refused(e) from None
        return summary(self._wait(name, config))

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        _check_flavor(flavor)
        self._read(name)
        patch = {"spec": spec_from(model_uri, config)}
        try:
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, patch
            )
        except ApiException as e:
            raise _refused(e) from None
        return summary(self._wait(name, config))

    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as e:
            if e.status != 404:  # already gone: what delete asked for
                raise _refused(e) from None

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        try:
            found = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL
            )
        except ApiException as e:
            raise _refused(e) from None
        return [summary(obj) for obj in cast(dict[str, Any], found)["items"]]

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        return summary(self._read(name))

    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
    ) -> PredictionsResponse:
        if not deployment_name:
            raise MlflowException("predict needs the deployment's name", INVALID_PARAMETER_VALUE)
        self._read(deployment_name)
        try:
            service = self.core.read_namespaced_service(deployment_name, self.namespace)
        except ApiException as e:
            raise _refused(e) from None
        ports = service.spec.ports if service.spec else None
        if not ports:
            raise MlflowException(f"the Service of deployment {deployment_name} has no port")
        port = ports[0].port
        path = (
            f"/api/v1/namespaces/{self.namespace}/services/{deployment_name}:{port}"
            "/proxy/invocations"
        )
        try:
            data = post_json(self.core.api_client, path, invocations_body(inputs))
        except ApiException as e:
            raise _refused(e, f"deployment {deployment_name} refused the request") from None
        answer: PredictionsResponse = PredictionsResponse.from_json(  # type: ignore[no-untyped-call]
            data.decode()
        )
        return answer


def post_json(api: Any, path: str, body: dict[str, Any]) -> bytes:
    """POST JSON to an apiserver path with the client's credentials; an answer of 400 or more
    raises ApiException carrying it."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    # The generated client's own request path: it signs with the kubeconfig's credentials.
    if not hasattr(api, "param_serialize"):  # kubernetes < 37: the older generator's client
        old = api.call_api(
            path,
            "POST",
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
        )
        return bytes(old.data)
    method, url, headers, data, post = api.param_serialize(
        "POST", path, header_params=headers, body=body, auth_settings=["BearerToken"]
    )
    response = api.call_api(method, url, headers, data, post)
    content: bytes = response.read()
    if response.status >= 400:
        raise ApiException(status=response.status, reason=response.reason, body=content.decode())
    return content


def _refused(e: ApiException, what: str = "the cluster refused the request") -> MlflowException:
    """An apiserver (or model) refusal as an MLflow error carrying its message."""
    message = e.reason or ""
    try:
        doc = json.loads(e.body or "")
        message = doc.get("message") or doc.get("error", {}).get("message") or message
    except (ValueError, AttributeError):
        pass
    code = INVALID_PARAMETER_VALUE if e.status in (400, 422) else None
    text = f"{what} ({e.status}): {message}"
    return MlflowException(text, code) if code else MlflowException(text)
