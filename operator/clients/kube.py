"""Kubernetes I/O: server-side apply, get, list, delete and status patches; the only seam to the
API."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelops.operator.api import kinds
from modelops.operator.api.kinds import Key
from modelops.operator.status.failures import ApplyError, check_owned, server_message

FIELD_MANAGER = "modelops-operator"
# Blocking API calls in flight at once (the operator's I/O threads, and the client's kept-alive
# connections to the apiserver): one for each pass that may run at once, and a few for what
# runs beside them. Python's default pool has cpu_count + 4 threads (6 on two cores), which
# held sixteen passes to six requests; urllib3's default of cpu_count * 5 connections would
# open and drop a TLS connection for each request past it.
IO_THREADS = 20

_api_client: client.ApiClient | None = None


def api() -> client.ApiClient:
    """One shared client: in-cluster config in a pod, else the kubeconfig."""
    global _api_client
    if _api_client is None:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        configuration = client.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = IO_THREADS
        _api_client = client.ApiClient(configuration)
    return _api_client


def _path(kind: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
    k = kinds.BY_NAME[kind]
    scope = f"/namespaces/{namespace}" if namespace else ""
    path = f"{k.prefix}{scope}/{k.plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


def _call(
    method: str,
    path: str,
    *,
    body: Any = None,
    query_params: list[tuple[str, str]] | None = None,
    header_params: dict[str, str] | None = None,
) -> Any:
    c = api()
    request = c.param_serialize(
        method=method,
        resource_path=path,
        query_params=query_params,
        header_params={"Accept": "application/json", **(header_params or {})},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = c.call_api(*request, _request_timeout=30)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    return json.loads(response.data) if response.data else None


def apply(obj: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply with one field manager: re-applying an unchanged object is a no-op
    (no new resourceVersion), and hand edits to the fields we own are taken back."""
    meta = obj["metadata"]
    try:
        applied: dict[str, Any] = _call(
            "PATCH",
            _path(obj["kind"], meta["namespace"], meta["name"]),
            body=obj,
            header_params={
                "Content-Type": "application/apply-patch+yaml",
                "Accept": "application/json",
            },
            query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        )
        return applied
    except ApiException as e:
        text = server_message(e.body, e.reason or "")
        raise ApplyError(obj["kind"], meta["name"], e.status, text) from e


def apply_child(obj: dict[str, Any], known_owned: bool = False) -> dict[str, Any]:
    """`apply`, for a child that carries its owner's controller reference: only when the name
    is free or already the owner's (a read first, unless the caller listed it as owned)."""
    if not known_owned:
        meta = obj["metadata"]
        check_owned(get(obj["kind"], meta["namespace"], meta["name"]), obj)
    return apply(obj)


def get(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = _call(
            "GET", _path(kind, namespace, name), header_params={"Accept": "application/json"}
        )
        return found
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def list_owned(
    kind_names: list[str], namespace: str, owner_uid: str, selector: str
) -> list[dict[str, Any]]:
    """Children of one owner: labelled as ours and carrying its uid as controller reference."""
    found = []
    for kind in kind_names:
        items = _call(
            "GET",
            _path(kind, namespace),
            query_params=[("labelSelector", selector)],
            header_params={"Accept": "application/json"},
        )["items"]
        for item in items:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", kinds.BY_NAME[kind].api_version)
            refs = item["metadata"].get("ownerReferences", [])
            if any(r.get("uid") == owner_uid and r.get("controller") for r in refs):
                found.append(item)
    return found


def delete(key: Key, namespace: str) -> None:
    _group, kind, name = key
    try:
        _call(
            "DELETE",
            _path(kind, namespace, name),
            body={"propagationPolicy": "Background"},
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
        )
    except ApiException as e:
        if e.status != 404:
            raise


class Conflict(Exception):
    """The object changed since the version a conditional write was made from."""


def patch_status(
    kind: str,
    namespace: str,
    name: str,
    status: dict[str, Any],
    resource_version: str | None = None,
) -> dict[str, Any]:
    """Merge-patch the status subresource (never spec: GitOps tools would see drift); the
    object as written. With `resource_version`, only while the object is still at that version
    (Conflict otherwise)."""
    body: dict[str, Any] = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    try:
        return _patch_status(kind, namespace, name, body, "application/merge-patch+json")
    except ApiException as e:
        if e.status == 409 and resource_version is not None:
            raise Conflict(f"{kind} {namespace}/{name} changed since it was seen") from e
        raise


def replace_status_if(
    kind: str,
    namespace: str,
    name: str,
    status: dict[str, Any],
    generation: int | None,
    previous: dict[str, Any],
) -> dict[str, Any]:
    """Replace status whole, only while the stored object still has `generation` and exactly
    the status `previous`: the tests of a JSON patch, so that a change of metadata alone (a
    label, kopf's progress while a handler retries) does not count as a conflict, as a
    resourceVersion precondition would. Conflict otherwise; the object as written."""
    ops = [
        {"op": "test", "path": "/metadata/generation", "value": generation},
        {"op": "test", "path": "/status", "value": previous},
        {"op": "replace", "path": "/status", "value": status},
    ]
    try:
        return _patch_status(kind, namespace, name, ops, "application/json-patch+json")
    except ApiException as e:
        if e.status == 422:  # a test failed (an invalid status fails the same way again)
            raise Conflict(f"{kind} {namespace}/{name} changed since it was seen") from e
        raise


def _patch_status(
    kind: str, namespace: str, name: str, body: Any, content_type: str
) -> dict[str, Any]:
    written: dict[str, Any] = _call(
        "PATCH",
        _path(kind, namespace, name, "status"),
        body=body,
        header_params={"Content-Type": content_type, "Accept": "application/json"},
    )
    return written


def list_all(kind: str, namespace: str | None, fields: str = "") -> list[dict[str, Any]]:
    """Every object of a kind, in one namespace or (None) all of them, optionally filtered by a
    field selector."""
    query = [("fieldSelector", fields)] if fields else None
    items = _call(
        "GET",
        _path(kind, namespace),
        query_params=query,
        header_params={"Accept": "application/json"},
    )
    found: list[dict[str, Any]] = items["items"]
    return found


def get_raw(path: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = _call("GET", path)
        return found
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def create_raw(path: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = _call(
        "POST", path, body=body, header_params={"Content-Type": "application/json"}
    )
    return created


def list_labelled(kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _call(
        "GET",
        _path(kind, namespace),
        query_params=[("labelSelector", selector)],
        header_params={"Accept": "application/json"},
    )["items"]
    return items


def remove_annotation(kind: str, namespace: str, name: str, key: str) -> None:
    """A one-shot command annotation, once acted on (only metadata: no spec drift)."""
    _call(
        "PATCH",
        _path(kind, namespace, name),
        body={"metadata": {"annotations": {key: None}}},
        header_params={
            "Content-Type": "application/merge-patch+json",
            "Accept": "application/json",
        },
    )
