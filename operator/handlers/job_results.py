"""Finished runs of the scheduled kinds: results travel from the job's termination message
through the pod status to the owner's status, so jobs need no Kubernetes API rights."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from modelops.operator.k8s import apply as k8s
from modelops.operator.runs import parse_result

# record(namespace, owner name, job name, result document, logger)
Recorder = Callable[[str, str, str, dict[str, Any], Any], Awaitable[None]]
# recorded(owner body, job name) -> whether a result of that Job is already in status
Recorded = Callable[[dict[str, Any], str], bool]


def _terminated_message(pod: dict[str, Any]) -> str | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated and terminated.get("message"):
            return str(terminated["message"])
    return None


def watch_results(component: str, owner_kind: str, record: Recorder, recorded: Recorded) -> None:
    """Register the pod and Job handlers that feed one kind's finished runs to `record`."""
    labels = {"app.kubernetes.io/managed-by": "modelops", "app.kubernetes.io/component": component}
    owner_label = f"modelops.dev/{component}"

    @kopf.on.event("", "v1", "pods", labels=labels, id=f"{component}-pod-results")
    async def on_pod(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        if (body.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            return
        meta_labels = body.get("metadata", {}).get("labels", {})
        owner = meta_labels.get(owner_label)
        job_name = meta_labels.get("batch.kubernetes.io/job-name") or meta_labels.get("job-name")
        doc = parse_result(_terminated_message(dict(body)))
        if owner is None or job_name is None or doc is None:
            return
        await record(body["metadata"]["namespace"], owner, job_name, doc, logger)

    @kopf.on.event("batch", "v1", "jobs", labels=labels, id=f"{component}-job-failures")
    async def on_job(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        """A Job that failed without its pods reporting a result (deadline, image pull, OOM)."""
        conds = {c.get("type"): c for c in (body.get("status") or {}).get("conditions") or []}
        failed = conds.get("Failed")
        owner = body.get("metadata", {}).get("labels", {}).get(owner_label)
        if not failed or failed.get("status") != "True" or owner is None:
            return
        ns, job_name = body["metadata"]["namespace"], body["metadata"]["name"]
        # The pods' own results say more than the Job's reason: give them a moment first.
        await asyncio.sleep(2)
        owner_body = await asyncio.to_thread(k8s.get, owner_kind, ns, owner)
        if owner_body is None or recorded(owner_body, job_name):
            return
        reason = failed.get("reason") or "Failed"
        doc = {"error": f"the Job failed ({reason}): {failed.get('message') or 'no message'}"}
        await record(ns, owner, job_name, doc, logger)
