"""Kubernetes Events about our objects, from bodies as the API returns them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from modelops.operator.clients import kube

log = logging.getLogger(__name__)
COMPONENT = "modelops-operator"


def _body(body: Mapping[str, Any]) -> kopf.Body:
    # kopf reads only apiVersion, kind and metadata off the object: any mapping will do.
    return cast(kopf.Body, body)


def build_event(
    body: Mapping[str, Any], type: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about `body`, as kopf would post it."""
    meta = body["metadata"]
    stamp = now.isoformat().replace("+00:00", "Z")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def _post_directly(event: dict[str, Any]) -> None:
    try:
        kube.create_raw(f"/api/v1/namespaces/{event['metadata']['namespace']}/events", event)
    except Exception:  # an Event is best effort, as kopf's are
        log.exception(f"Could not post the {event['reason']} Event")


def _post(body: Mapping[str, Any], type: str, reason: str, message: str) -> None:
    try:
        (kopf.warn if type == "Warning" else kopf.info)(_body(body), reason=reason, message=message)
    except LookupError:
        # Outside kopf's handlers (the periodic pass) there is no kopf event queue.
        event = build_event(body, type, reason, message, datetime.now(UTC))
        asyncio.get_running_loop().run_in_executor(None, _post_directly, event)


def info(body: Mapping[str, Any], reason: str, message: str) -> None:
    _post(body, "Normal", reason, message)


def warn(body: Mapping[str, Any], reason: str, message: str) -> None:
    _post(body, "Warning", reason, message)
