"""kopf adapters for ModelDeployment: parse, resolve, build, apply, record status."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import kopf

from modelops.operator import metrics
from modelops.operator.api import kinds
from modelops.operator.api.v1alpha1.feature_materialization import FeatureStoreRef
from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment, ResolvedModel
from modelops.operator.clients import kube, registry
from modelops.operator.handlers import (
    children,
    events,
    locks,
    parsing,
    persistence,
    resync,
    rollout,
    scaffold,
)
from modelops.operator.planning import key as child_key
from modelops.operator.planning import plan as plan_children
from modelops.operator.resources.common import managed_labels, managed_selector, selector_labels
from modelops.operator.resources.model_deployment import (
    COMPONENT,
    desired_children,
    service_url,
)
from modelops.operator.settings import get_settings
from modelops.operator.status import allowlists
from modelops.operator.status import model_deployment as policy
from modelops.operator.status import rollout as rollouts
from modelops.operator.status.resolution import Compatibility, Resolution

KIND = kinds.MODEL_DEPLOYMENT
CHILD_KINDS = [
    k.kind for k in (kinds.CONFIG_MAP, kinds.DEPLOYMENT, kinds.SERVICE, kinds.HPA, kinds.PDB)
]
SKIP_PREFLIGHT = "modelops.dev/skip-compatibility-check"

# What the in-memory maps below hold at most: the oldest entry goes first.
MEMORY_LIMIT = 10_000
K = TypeVar("K")
V = TypeVar("V")


def _keep(memory: dict[K, V], key: K, value: V) -> None:
    memory.pop(key, None)  # re-inserted last: the newest
    while len(memory) >= MEMORY_LIMIT:
        del memory[next(iter(memory))]
    memory[key] = value


# Pre-flight results per pinned version: a version's files never change once registered.
_preflight_cache: dict[tuple[str, str, bool], Compatibility] = {}
# When each ModelDeployment last had a full pass (monotonic seconds): the periodic pass owes
# one only every resync_seconds once it is settled. Not bounded like the maps below (a bound
# would cost the objects past it their full passes): dropped when the object is deleted.
_last_full: dict[tuple[str, str], float] = {}


def _tracking(md: ModelDeployment) -> str:
    return md.spec.model.tracking_uri or get_settings().mlflow_tracking_uri


async def _preflight(md: ModelDeployment, model: ResolvedModel) -> Compatibility:
    if md.metadata.get("annotations", {}).get(SKIP_PREFLIGHT) == "true":
        return Compatibility(None, f"Skipped by the {SKIP_PREFLIGHT} annotation")
    tracking, allow_pickle = _tracking(md), md.spec.model.allow_pickle
    key = (tracking, model.resolved_uri or "", allow_pickle)
    compat = _preflight_cache.get(key)
    if compat is None:
        compat = await asyncio.to_thread(
            registry.check_compatibility, model, tracking, get_settings(), allow_pickle
        )
        if compat.compatible is not None:
            _keep(_preflight_cache, key, compat)
    return compat


async def _resolve(md: ModelDeployment) -> tuple[Resolution, Compatibility]:
    """The registry's answer and the pre-flight verdict, each asked again only when it can
    have changed: a resolved numbered version is not looked up, a checked one not downloaded."""
    resolution = policy.still_resolved(md)
    if resolution is None:
        resolution = await _lookup(md.spec.model.uri, _tracking(md), max_age=0)
    model = resolution.model
    if model is None or model.resolved_uri is None:
        return resolution, policy.previous_compatibility(md)
    skip = md.metadata.get("annotations", {}).get(SKIP_PREFLIGHT) == "true"
    known = None if skip else policy.still_compatible(md, resolution)
    return resolution, known if known is not None else await _preflight(md, model)


async def _features(
    md: ModelDeployment,
) -> tuple[FeatureStoreRef | None, tuple[bool | None, str, str] | None]:
    """The feature repo the runtime reads from, and FeaturesFresh from the materialization."""
    if md.spec.features is None:
        return None, None
    ref = md.spec.features.materialization_ref.name
    fm = await asyncio.to_thread(
        kube.get, kinds.FEATURE_MATERIALIZATION.kind, md.metadata["namespace"], ref
    )
    store = None
    if fm is not None:
        store = FeatureStoreRef.model_validate(fm.get("spec", {}).get("featureStore") or {})
    return store, policy.features_fresh(ref, fm)


async def reconcile(
    namespace: str,
    name: str,
    logger: logging.Logger | Any,
    resolve: bool,
    deployment: Callable[[], dict[str, Any] | None] | None = None,
) -> None:
    """One idempotent pass: create, update, resume, the poll timer and child events all land
    here and converge to the same children and status. With `deployment` (the latest body of a
    status-only change of the Deployment, taken when the pass begins), only status is brought
    up to date, unless a rollout is under way: such a pass is short and goes first."""

    taken: list[dict[str, Any] | None] = []

    async def work(body: dict[str, Any]) -> None:
        if deployment is not None:
            if not taken:  # once: a pass run again on a fresh read keeps the change it took
                taken.append(deployment())
            if taken[0] is None:
                return  # a pass since read a newer Deployment than this change's
        await _reconcile(body, logger, resolve, taken[0] if taken else None)

    await scaffold.reconcile(
        KIND.kind,
        namespace,
        name,
        work,
        urgent=deployment is not None,
        known=(lambda: _new(namespace, name))
        if deployment is None
        else (lambda: _known(namespace, name)),
    )


# The newest body of each ModelDeployment this process has seen (from its watch and from its
# own status writes), kept as compact JSON without managedFields: a status-only pass works
# from it instead of a read of its own (its status write then conditional on the version).
_bodies: dict[tuple[str, str], tuple[int, str]] = {}


def _note(body: dict[str, Any]) -> None:
    meta = body.get("metadata") or {}
    version = str(meta.get("resourceVersion", ""))
    if not version.isdigit() or "namespace" not in meta:
        return
    key = (meta["namespace"], meta["name"])
    held = _bodies.get(key)
    if held is None or int(version) > held[0]:
        slim = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
        _keep(_bodies, key, (int(version), json.dumps(slim, separators=(",", ":"))))


def _known(namespace: str, name: str) -> dict[str, Any] | None:
    held = _bodies.get((namespace, name))
    return None if held is None else json.loads(held[1])


def _new(namespace: str, name: str) -> dict[str, Any] | None:
    """For a full pass: the newest body seen, if no pass has written its status yet (a
    creation has nothing to read that its ADDED event did not bring). The body is dropped
    either way: the full pass reads, and its write is kept again."""
    held = _bodies.pop((namespace, name), None)
    body = None if held is None else json.loads(held[1])
    return body if body is not None and "status" not in body else None


async def _reconcile(
    body: dict[str, Any],
    logger: logging.Logger | Any,
    resolve: bool,
    seen: dict[str, Any] | None = None,
) -> None:
    md = parsing.parse(ModelDeployment, body)
    settings = get_settings()
    allowlists.check_model_deployment(md.spec, settings)
    ns, name = md.metadata["namespace"], md.metadata["name"]
    current = policy.pinned(md)
    observed_generation = md.status.observed_generation if md.status else None
    if not resolve and (current is None or observed_generation != md.metadata.get("generation")):
        # Nothing rolled out yet, or a spec not yet resolved: the ModelDeployment's own
        # handler is on it, and a pass that resolves nothing must not claim its generation.
        return
    scraped: list[Any] = []
    if resolve:
        resolution, compat = await _resolve(md)
        plan, scraped = await rollout.decide(
            md, resolution, compat, lambda m: _preflight(md, m), _tracking(md), scaffold.now()
        )
        await rollout.act(md, body, plan, _tracking(md))
        await rollout.ensure_validation(md, plan)
    else:
        resolution, compat = policy.previous_resolution(md), policy.previous_compatibility(md)
        plan = rollouts.current(md)
    served = policy.to_serve(resolution, compat, current)
    if current is not None and plan.serve is not None:
        served = plan.serve

    feature_store, features_fresh = await _features(md)
    deployment: dict[str, Any] | None = None
    if served is not None and seen is not None and not plan.active and not policy.failing(md):
        deployment = seen  # a status-only change of a child whose spec is already as desired
    elif served is not None:
        scaffold.read_first()
        _status_waiting.pop((ns, name), None)  # this pass reads newer children than it holds
        desired = desired_children(md, served, settings, feature_store, rollout.pods_spec(md, plan))
        # Before the first rollout there is nothing to list: each child is read once by name
        # before it is created (apply_child), one request instead of five lists.
        observed: list[dict[str, Any]] = []
        if current is not None:
            # This owner's children only: a selector on the component alone would list every
            # ModelDeployment's in the namespace, on every pass of each.
            instance = ",".join(f"{k}={v}" for k, v in selector_labels(name, COMPONENT).items())
            selector = f"{managed_selector(COMPONENT)},{instance}"
            observed = await asyncio.to_thread(
                kube.list_owned, CHILD_KINDS, ns, md.metadata["uid"], selector
            )
        actions = plan_children(desired, observed)
        owned = {child_key(o): o for o in observed}
        deployment = next((o for o in observed if o["kind"] == kinds.DEPLOYMENT.kind), None)
        for applied in await _apply_all(actions.apply, owned):
            children.remember(applied)
            if applied["kind"] == kinds.DEPLOYMENT.kind:
                deployment = applied
        for key in actions.delete:
            await asyncio.to_thread(kube.delete, key, ns)
            logger.info(f"Deleted {key[1]} {key[2]}, no longer desired")
        await rollout.push(md, plan, scraped)
        event = policy.rollout_event(current, served)
        if event is not None:
            events.info(body, event[0], event[1])
    else:
        deployment = await asyncio.to_thread(kube.get, kinds.DEPLOYMENT.kind, ns, name)

    new_status = policy.compute_status(
        md,
        policy.Observed(resolution, compat, deployment, served, features_fresh, plan.status),
        scaffold.now(),
        url=service_url(md, settings),
        selector=",".join(f"{k}={v}" for k, v in selector_labels(name, COMPONENT).items()),
    )
    old = md.status.wire() if md.status else {}
    written = await scaffold.write_status(KIND.kind, md.metadata, old, new_status.wire())
    if written is not None:
        _note(written)
    if plan.active:
        resync.soon(KIND.kind, ns, name, rollout.FOLLOW_UP_SECONDS, resync_model_deployment)
    if not resolve:
        return
    _last_full[(ns, name)] = time.monotonic()
    if compat.compatible is False:
        events.warn(body, policy.INCOMPATIBLE, compat.message)
    if resolution.model is None:
        events.warn(body, resolution.reason, resolution.message)
        raise kopf.TemporaryError(resolution.message, delay=30)


async def _apply_all(
    objs: list[dict[str, Any]], owned: dict[kinds.Key, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Apply the children at once (each is a read and an apply, or an apply: a creation's
    pass waits for the slowest, not for their sum), ConfigMaps first: the Deployment's pods
    mount them. Every apply is waited for before the first failure is raised."""

    async def apply(obj: dict[str, Any]) -> dict[str, Any]:
        applied = await asyncio.to_thread(kube.apply_child, obj, child_key(obj) in owned)
        applied.setdefault("kind", obj["kind"])
        return applied

    done: list[dict[str, Any]] = []
    first = [o for o in objs if o["kind"] == kinds.CONFIG_MAP.kind]
    for batch in (first, [o for o in objs if o["kind"] != kinds.CONFIG_MAP.kind]):
        results = await asyncio.gather(*map(apply, batch), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
            done.append(result)
    return done


@kopf.on.resume(*KIND.resource)
@kopf.on.create(*KIND.resource)
@kopf.on.update(*KIND.resource, field="spec")
@kopf.on.update(*KIND.resource, field="metadata.annotations")
async def on_model_deployment_change(
    body: kopf.Body, meta: kopf.Meta, reason: str, logger: kopf.Logger, retry: int, **_: Any
) -> None:
    # An operator (re)starting finds settled ModelDeployments as it left them: their children
    # are checked now, their aliases at their next poll (spread over the interval), so a
    # thousand of them do not ask the registry all at once.
    resolve = True
    if reason == kopf.Reason.RESUME:
        try:
            resolve = not policy.settled(parsing.parse(ModelDeployment, dict(body)))
        except kopf.PermanentError:
            pass  # the full pass reports it in status
    try:
        await reconcile(meta["namespace"], meta["name"], logger, resolve=resolve)
    except kopf.TemporaryError as e:
        # Exponential backoff while the registry is down, capped at five minutes.
        raise kopf.TemporaryError(str(e), delay=min(300, 5 * 2**retry)) from None


# One registry answer per URI serves every ModelDeployment polling it within a quarter of the
# poll interval: a model deployed in fifty namespaces (each polling at its own offset) costs
# about four lookups per interval, not fifty, and a moved alias is seen within 1.25 intervals.
POLL_SHARED_SHARE = 0.25
_answers: dict[tuple[str, str], tuple[float, Resolution]] = {}
_asking: dict[tuple[str, str], asyncio.Future[Resolution]] = {}


async def _lookup(uri: str, tracking: str, max_age: float) -> Resolution:
    """The registry's answer for `uri`: a numbered version's is kept for good (it never
    changes), another's reused for `max_age` seconds, and a lookup already in flight is
    joined, never repeated (a thousand ModelDeployments of one alias created together ask
    once). The lookup is a task of its own: one caller cancelled cancels no other."""
    key = (tracking, uri)
    hit = _answers.get(key)
    if hit is not None and (policy.immutable(uri) or time.monotonic() - hit[0] < max_age):
        return hit[1]
    task = _asking.get(key)
    if task is None:
        task = asyncio.ensure_future(
            asyncio.to_thread(registry.resolve, uri, tracking, get_settings())
        )
        _asking[key] = task

        def keep(done: asyncio.Future[Resolution]) -> None:
            _asking.pop(key, None)
            if done.cancelled() or done.exception() is not None:
                return
            if done.result().model is not None:  # failures are asked again
                _keep(_answers, key, (time.monotonic(), done.result()))

        task.add_done_callback(keep)
    return await asyncio.shield(task)


async def _alias_moved(listed: ModelDeployment) -> bool:
    """Whether the registry now resolves the URI, or the rollout's candidate URI, to a version
    the last full pass did not see (or cannot resolve it: the full pass reports why)."""
    window = get_settings().model_poll_seconds * POLL_SHARED_SHARE
    current = policy.pinned(listed)
    if current is None:
        return True
    seen = {current.resolved_uri}
    last = listed.status.rollout if listed.status else None
    if last is not None:
        seen.add(last.candidate_uri)  # a candidate rolled back stays as its rollout left it
    for uri in policy.movable(listed):
        resolution = await _lookup(uri, _tracking(listed), window)
        if resolution.model is None or resolution.model.resolved_uri not in seen:
            return True
    return False


# A full pass within this share of the poll interval stands for the periodic one an unsettled
# ModelDeployment owes; a failing one is still retried at every tick (about an interval apart).
RECENT_SHARE = 0.5


@resync.every(KIND.kind, get_settings().model_poll_seconds)
async def resync_model_deployment(
    namespace: str, name: str, logger: logging.Logger, listed: dict[str, Any] | None = None
) -> None:
    """Re-resolve a movable URI (a moved alias rolls out); a full pass while one is not settled
    and every resync_seconds (restores anything its watches missed)."""
    try:
        md: ModelDeployment | None = None
        if listed is not None:
            try:
                md = parsing.parse(ModelDeployment, listed)
            except kopf.PermanentError:
                pass  # the full pass reports it in status
        if md is not None:
            last = _last_full.setdefault((namespace, name), time.monotonic())
            settings = get_settings()
            since = time.monotonic() - last
            recent = settings.model_poll_seconds * RECENT_SHARE
            due = policy.periodic(md, since, settings.resync_seconds, recent)
            if due == "none" or (due == "poll" and not await _alias_moved(md)):
                return
        await reconcile(namespace, name, logger, resolve=True)
    except kopf.TemporaryError:
        pass  # status already says why; the next tick retries


def _owner_name(body: kopf.Body) -> str | None:
    for ref in body.get("metadata", {}).get("ownerReferences", []):
        if ref.get("kind") == KIND.kind and ref.get("controller"):
            return str(ref["name"])
    return None


async def _reconcile_owner(body: kopf.Body, logger: kopf.Logger) -> None:
    owner = _owner_name(body)
    ns = body.get("metadata", {}).get("namespace")
    if owner is None or ns is None:
        return
    await reconcile(ns, owner, logger, resolve=False)


async def _restore(type: str | None, body: kopf.Body, logger: kopf.Logger) -> None:
    """A full pass of the owner of a child edited, deleted or made by another. If it cannot
    run (the API down), the child's next event is taken for an edit again."""
    owner, ns = _owner_name(body), body.get("metadata", {}).get("namespace")
    if type != "DELETED" and owner is not None and ns is not None:
        # The creation of a child can reach the watch before the apply that made it returns
        # (a thousand owners created at once): once the owner's pass in flight is done, a
        # child exactly as that pass applied it needs no pass of its own, only its status.
        async with locks.lock_for(KIND.kind, ns, owner):
            pass
        if children.as_applied(body):
            if body.get("kind") == kinds.DEPLOYMENT.kind:
                _status_of_owner(body)
            return
    try:
        await _reconcile_owner(body, logger)
    except Exception:
        children.forget(body.get("metadata", {}).get("uid", ""))
        raise


# Status-only changes of an owner's Deployment wait here for one pass of the owner, which takes
# the latest: the handler returns at once, so four changes while a pass waits cost one pass.
# Dropped when the owner is deleted.
_status_waiting: dict[tuple[str, str], dict[str, Any]] = {}
STATUS_DELAY = 0.2


async def _status_pass(namespace: str, name: str, logger: logging.Logger, _: Any = None) -> None:
    def take() -> dict[str, Any] | None:
        # None (another pass took it): this pass lists and compares the children instead.
        return _status_waiting.pop((namespace, name), None)

    await reconcile(namespace, name, logger, resolve=False, deployment=take)


def _status_of_owner(body: kopf.Body) -> None:
    owner = _owner_name(body)
    ns = body.get("metadata", {}).get("namespace")
    if owner is None or ns is None:
        return
    _keep(_status_waiting, (ns, owner), dict(body))
    resync.soon(f"{KIND.kind}/status", ns, owner, STATUS_DELAY, _status_pass)


CHILD_LABELS = managed_labels(COMPONENT)


@kopf.on.event(*KIND.resource)
async def on_model_deployment_event(
    type: str, namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> None:
    """The newest body is kept for status passes; a deleted ModelDeployment's in-memory
    entries go with it."""
    if type == "DELETED" and namespace is not None:
        persistence.diffbase.forget(str(body.get("metadata", {}).get("uid", "")))
        _last_full.pop((namespace, name), None)
        _status_waiting.pop((namespace, name), None)
        _bodies.pop((namespace, name), None)
        metrics.forget(KIND.kind, namespace, name)
    else:
        _note(dict(body))


@kopf.on.event(*kinds.DEPLOYMENT.resource, labels=CHILD_LABELS)
async def on_predictor_deployment_event(
    type: str | None, body: kopf.Body, logger: kopf.Logger, **_: Any
) -> None:
    """Readiness changes flow into the owner's status; a hand edit or deletion is undone."""
    change = children.observe(type, body)
    if change == "spec":
        await _restore(type, body, logger)
    elif change == "status":
        _status_of_owner(body)


@kopf.on.event(*kinds.SERVICE.resource, labels=CHILD_LABELS)
@kopf.on.event(*kinds.HPA.resource, labels=CHILD_LABELS)
@kopf.on.event(*kinds.PDB.resource, labels=CHILD_LABELS)
@kopf.on.event(*kinds.CONFIG_MAP.resource, labels=CHILD_LABELS)
async def on_predictor_child_event(
    type: str | None, body: kopf.Body, logger: kopf.Logger, **_: Any
) -> None:
    if children.observe(type, body) == "spec":
        await _restore(type, body, logger)
