"""A ModelDeployment's rollout, I/O side: resolve the candidate, read the pods' figures, let the
pure policy decide, then act (alias, tags, annotations, pushes) and come back soon."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from modelops.operator.api import kinds
from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment, ResolvedModel
from modelops.operator.clients import kube, pods, registry
from modelops.operator.handlers import events
from modelops.operator.resources.common import owner_label, selector_labels
from modelops.operator.resources.model_deployment import COMPONENT, RolloutPods, takes_rollouts
from modelops.operator.resources.traffic import public_key, signed_push, signing_key, target
from modelops.operator.resources.validation import COMPONENT as VALIDATION
from modelops.operator.resources.validation import build_validation_job, job_name
from modelops.operator.settings import get_settings
from modelops.operator.status import rollout as policy
from modelops.operator.status.analysis import Figures
from modelops.operator.status.model_deployment import deployment_facts, replica_floor
from modelops.operator.status.resolution import REGISTRY_UNAVAILABLE, Compatibility, Resolution
from modelops.operator.status.runs import job_failure, made_by, pod_result

log = logging.getLogger(__name__)
# How soon an active rollout is looked at again: a step's end, a failed check or a new pod is
# acted on within this (plus one pass).
FOLLOW_UP_SECONDS = 5.0
Preflight = Callable[[ResolvedModel], Awaitable[Compatibility]]


def _selector(md: ModelDeployment) -> str:
    labels = selector_labels(md.metadata["name"], COMPONENT)
    return ",".join(f"{k}={v}" for k, v in labels.items())


async def _pod_figures(
    md: ModelDeployment, found: list[dict[str, Any]] | None = None
) -> list[tuple[str, pods.PodFigures | None]]:
    if found is None:
        found = await _pods(md)
    ips = [
        p["status"]["podIP"]
        for p in found
        if p.get("status", {}).get("phase") == "Running"
        and p["status"].get("podIP")
        and not p["metadata"].get("deletionTimestamp")
    ]
    scraped = await asyncio.gather(*(asyncio.to_thread(pods.scrape, ip) for ip in ips))
    return list(zip(ips, scraped, strict=True))


async def _pods(md: ModelDeployment) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await asyncio.to_thread(
        kube.list_labelled, kinds.POD.kind, md.metadata["namespace"], _selector(md)
    )
    return found


def _sum(scraped: list[tuple[str, pods.PodFigures | None]], version: str) -> Figures:
    total = Figures()
    for _, fig in scraped:
        if fig is not None and version in fig.versions:
            total.add(fig.versions[version])
    return total


async def decide(
    md: ModelDeployment,
    resolution: Resolution,
    compat: Compatibility,
    preflight: Preflight,
    tracking: str,
    now: Any,
) -> tuple[policy.Plan, list[tuple[str, pods.PodFigures | None]]]:
    """The pass's rollout plan, and the pods as read (for the pushes after applying)."""
    settings = get_settings()
    stable = md.status.model if md.status else None
    main = resolution.model if compat.compatible is not False else None
    candidate, problem = None, None
    unreachable = resolution.reason == REGISTRY_UNAVAILABLE
    if md.spec.rollout.candidate:
        res = await asyncio.to_thread(
            registry.resolve, md.spec.rollout.candidate, tracking, settings
        )
        candidate = res.model
        unreachable = unreachable or res.reason == REGISTRY_UNAVAILABLE
    prev = md.status.rollout if md.status else None
    pending = candidate or (main if main and stable and main.version != stable.version else None)
    if pending is not None and (prev is None or prev.candidate_version != pending.version):
        checked = await preflight(pending)
        if checked.compatible is False:
            problem = f"the runtime cannot load it: {checked.message}"
    scraped: list[tuple[str, pods.PodFigures | None]] = []
    figures, settled = None, False
    if prev is not None and prev.phase == "Progressing" and stable is not None:
        found = await _pods(md)
        scraped = await _pod_figures(md, found)
        figures = (_sum(scraped, prev.candidate_version), _sum(scraped, stable.version or ""))
        # A pod shutting down still answers until the Service drops it, from its older split.
        draining = any(p["metadata"].get("deletionTimestamp") for p in found)
        dep = await asyncio.to_thread(
            kube.get, kinds.DEPLOYMENT.kind, md.metadata["namespace"], md.metadata["name"]
        )
        if dep is not None:
            facts = deployment_facts(dep, replica_floor(md))
            # Every pod also applies the split in force (the step clock must not run on pods
            # still answering from an older split).
            current = all(
                fig is not None and (fig.revision or 0) >= prev.revision for _, fig in scraped
            )
            settled = not facts.rolling and facts.ready >= 1 and current and not draining
    validation = None
    if prev is not None and prev.phase == "Validating":
        validation = await _validation_result(md, prev.candidate_version)
    inputs = policy.Inputs(
        stable, main, candidate, problem, figures, settled, validation, unreachable
    )
    return policy.decide(md, inputs, now), scraped


async def _validation_result(md: ModelDeployment, version: str) -> dict[str, Any] | None:
    """The finished validation of `version`, only from a pod of the Job this ModelDeployment
    made for it (by UID: a hand-made pod or Job with the same labels is ignored)."""
    ns, name = md.metadata["namespace"], md.metadata["name"]
    wanted = job_name(name, version)
    job = await asyncio.to_thread(kube.get, kinds.JOB.kind, ns, wanted)
    if job is None or not made_by(job, {"metadata": md.metadata}, kinds.MODEL_DEPLOYMENT.kind):
        return None
    label = owner_label(VALIDATION)
    found = await asyncio.to_thread(kube.list_labelled, kinds.POD.kind, ns, f"{label}={name}")
    for pod in found:
        result = pod_result(pod, label)
        if result is not None and result[1] == wanted and made_by(pod, job, kinds.JOB.kind):
            doc = result[2]
            if doc.get("error") is None or not _retried(job):
                return doc
    failed = job_failure(job, label)
    return failed[1] if failed is not None else None


def _retried(job: dict[str, Any]) -> bool:
    """Whether the Job may still run another pod after a failed one (backoffLimit)."""
    status = job.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return conds.get("Failed") != "True" and conds.get("Complete") != "True"


async def ensure_validation(md: ModelDeployment, plan: policy.Plan) -> None:
    if not plan.validating or plan.candidate is None:
        return
    job = build_validation_job(md, plan.candidate, plan.serve, get_settings())
    if job is not None:
        await asyncio.to_thread(kube.apply_child, job)


def pods_spec(md: ModelDeployment, plan: policy.Plan) -> RolloutPods | None:
    if not takes_rollouts(md):
        return None
    key = signing_key(get_settings().rollout_signing_key)
    return RolloutPods(public_key(key), plan.loaded, plan.traffic.wire())


async def act(md: ModelDeployment, body: dict[str, Any], plan: policy.Plan, tracking: str) -> None:
    """The registry and annotation side of a decision, before children are applied: a failed
    alias move raises, and the whole pass (decision included) runs again."""
    settings = get_settings()
    ns, name = md.metadata["namespace"], md.metadata["name"]
    if plan.move_alias is not None:
        model, alias, version = plan.move_alias
        await asyncio.to_thread(registry.move_alias, model, alias, version, tracking, settings)
        log.info(f"Moved {model}@{alias} to version {version} for {ns}/{name}")
    if plan.tag is not None:
        model, version, text = plan.tag
        try:
            await asyncio.to_thread(
                registry.tag_version, model, version, policy.OUTCOME_TAG, text, tracking, settings
            )
        except Exception as e:  # the outcome is in status and Events already
            log.warning(f"Could not tag {model} version {version}: {e}")
    if plan.clear_command:
        await asyncio.to_thread(
            kube.remove_annotation, kinds.MODEL_DEPLOYMENT.kind, ns, name, policy.ANNOTATION
        )
    for type_, reason, message in plan.events:
        (events.warn if type_ == "Warning" else events.info)(body, reason, message)


async def push(
    md: ModelDeployment, plan: policy.Plan, scraped: list[tuple[str, pods.PodFigures | None]]
) -> None:
    """The split, to every pod that does not apply it yet (pods that start later read the
    ConfigMap, and the next pass pushes to any that missed it)."""
    if not takes_rollouts(md) or plan.status is None:
        return
    prev = md.status.rollout if md.status else None
    if not plan.active and prev is not None and prev.revision == plan.traffic.revision:
        return  # settled: the ConfigMap says the same, and nothing loads a candidate
    if not scraped:
        scraped = await _pod_figures(md)
    want = plan.traffic.revision
    stale = [ip for ip, fig in scraped if fig is None or (fig.revision or 0) < want]
    if not stale:
        return
    key = signing_key(get_settings().rollout_signing_key)
    body = signed_push(
        plan.traffic.wire(), target(md.metadata["namespace"], md.metadata["name"]), key
    )
    await asyncio.gather(*(asyncio.to_thread(pods.push, ip, body) for ip in stale))
