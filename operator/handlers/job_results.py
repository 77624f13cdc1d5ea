"""Finished runs of the scheduled kinds: results travel from the job's termination message
through the pod status to the owner's status, so jobs need no Kubernetes API rights."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from modelops.operator.clients import kube
from modelops.operator.resources.common import managed_labels, owner_label
from modelops.operator.status.runs import job_failure, pod_result

# record(namespace, owner name, job name, result document, logger)
Recorder = Callable[[str, str, str, dict[str, Any], Any], Awaitable[None]]
# recorded(owner body, job name) -> whether a result of that Job is already in status
Recorded = Callable[[dict[str, Any], str], bool]


def watch_results(component: str, owner_kind: str, record: Recorder, recorded: Recorded) -> None:
    """Register the pod and Job handlers that feed one kind's finished runs to `record`."""
    labels = managed_labels(component)
    label = owner_label(component)

    @kopf.on.event("", "v1", "pods", labels=labels, id=f"{component}-pod-results")
    async def on_pod(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        found = pod_result(dict(body), label)
        if found is not None:
            owner, job_name, doc = found
            await record(body["metadata"]["namespace"], owner, job_name, doc, logger)

    @kopf.on.event("batch", "v1", "jobs", labels=labels, id=f"{component}-job-failures")
    async def on_job(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        found = job_failure(dict(body), label)
        if found is None:
            return
        owner, doc = found
        ns, job_name = body["metadata"]["namespace"], body["metadata"]["name"]
        # The pods' own results say more than the Job's reason: give them a moment first.
        await asyncio.sleep(2)
        owner_body = await asyncio.to_thread(kube.get, owner_kind, ns, owner)
        if owner_body is None or recorded(owner_body, job_name):
            return
        await record(ns, owner, job_name, doc, logger)
