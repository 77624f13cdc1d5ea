"""Finished runs of the scheduled kinds: results travel from the job's termination message
through the pod status to the owner's status, so jobs need no Kubernetes API rights. A result
counts only when its pod was made by a Job that the owner's own CronJob made (by UID)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from modelops.operator.api import kinds
from modelops.operator.clients import kube
from modelops.operator.handlers import scaffold
from modelops.operator.resources.common import managed_labels, owner_label
from modelops.operator.status.runs import (
    controller,
    job_failure,
    kubelet_times,
    made_by,
    pod_result,
    run_owner,
)

# record(namespace, owner name, owner uid, job name, result document, logger)
Recorder = Callable[[str, str, str, str, dict[str, Any], Any], Awaitable[None]]
# recorded(owner body, job name) -> whether a result of that Job is already in status
Recorded = Callable[[dict[str, Any], str], bool]
log = logging.getLogger(__name__)


async def _owner_of(namespace: str, job: dict[str, Any], owner_kind: str) -> tuple[str, str] | None:
    """The owner a Job traces back to through its CronJob, read fresh."""
    ref = controller(job)
    if ref is None or ref.get("kind") != kinds.CRON_JOB.kind:
        return None
    cron = await asyncio.to_thread(kube.get, kinds.CRON_JOB.kind, namespace, str(ref["name"]))
    return run_owner(job, cron, owner_kind)


def watch_results(component: str, owner_kind: str, record: Recorder, recorded: Recorded) -> None:
    """Register the pod and Job handlers that feed one kind's finished runs to `record`."""
    labels = managed_labels(component)
    label = owner_label(component)

    @kopf.on.event(*kinds.POD.resource, labels=labels, id=f"{component}-pod-results")
    async def on_pod(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        pod = dict(body)
        found = pod_result(pod, label)
        if found is None:
            return
        job_name, doc = found[1], found[2]
        ns = body["metadata"]["namespace"]
        job = await asyncio.to_thread(kube.get, kinds.JOB.kind, ns, job_name)
        owner = None
        if job is not None and made_by(pod, job, kinds.JOB.kind):
            owner = await _owner_of(ns, job, owner_kind)
        if owner is None:
            log.warning(
                f"Ignored the result of pod {ns}/{body['metadata']['name']}: no Job of "
                f"a CronJob of a {owner_kind} made it"
            )
            return
        doc = kubelet_times(pod, doc, scaffold.now())
        await record(ns, owner[0], owner[1], job_name, doc, logger)

    @kopf.on.event(*kinds.JOB.resource, labels=labels, id=f"{component}-job-failures")
    async def on_job(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        found = job_failure(dict(body), label)
        if found is None:
            return
        doc = found[1]
        ns, job_name = body["metadata"]["namespace"], body["metadata"]["name"]
        owner = await _owner_of(ns, dict(body), owner_kind)
        if owner is None:
            return
        # The pods' own results say more than the Job's reason: give them a moment first.
        await asyncio.sleep(2)
        owner_body = await asyncio.to_thread(kube.get, owner_kind, ns, owner[0])
        if owner_body is None or recorded(owner_body, job_name):
            return
        now = scaffold.now().isoformat().replace("+00:00", "Z")
        await record(ns, owner[0], owner[1], job_name, {**doc, "completionTime": now}, logger)
