"""Operator-wide kopf settings."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from modelops.operator import metrics
from modelops.operator.api import kinds
from modelops.operator.clients import kube, registry
from modelops.operator.handlers import persistence, resync
from modelops.operator.resources import drift_monitor, feature_materialization, model_deployment
from modelops.operator.resources.common import managed_selector, outside
from modelops.operator.settings import get_settings

OWN_KINDS = (kinds.MODEL_DEPLOYMENT, kinds.DRIFT_MONITOR, kinds.FEATURE_MATERIALIZATION)
SERVING_CHILDREN = (kinds.DEPLOYMENT, kinds.SERVICE, kinds.HPA, kinds.PDB, kinds.CONFIG_MAP)
RUN_KINDS = (kinds.JOB, kinds.POD)


@kopf.on.startup()
async def size_io_threads(**_: Any) -> None:
    # Every blocking call (asyncio.to_thread) runs on the loop's default pool, which Python
    # sizes from the cores (6 threads on 2): too few for the passes' requests in flight.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=kube.IO_THREADS, thread_name_prefix="modelops-io")
    )


@kopf.on.startup()
async def warm_registry_client(**_: Any) -> None:
    # Before the watches open: the first burst of ModelDeployments finds the client ready.
    await asyncio.to_thread(registry.warm)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> None:
    # Progress (written only while a handler retries) lives in annotations under our own
    # prefix; status is structural and belongs to the conditions and facts users read. The
    # diff-base lives in memory: an annotation would be one more write per handled change.
    settings.persistence.progress_storage = persistence.UnmarkedProgress(prefix="modelops.dev")
    settings.persistence.diffbase_storage = persistence.diffbase
    settings.persistence.finalizer = "modelops.dev/finalizer"
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.execution.max_workers = 20
    # The apiserver filters: the operator lists and watches only its own kinds and the
    # children it labels, never every Pod and Service in the cluster, and nothing at all in
    # the excluded namespaces.
    for kind in SERVING_CHILDREN:
        settings.watching.label_selectors[kind.resource] = managed_selector(
            model_deployment.COMPONENT
        )
    for kind in RUN_KINDS:
        settings.watching.label_selectors[kind.resource] = managed_selector(
            drift_monitor.COMPONENT, feature_materialization.COMPONENT
        )
    if excluded := outside(get_settings().excluded_namespaces):
        for kind in (*OWN_KINDS, *SERVING_CHILDREN, *RUN_KINDS):
            settings.watching.field_selectors[kind.resource] = excluded
    settings.networking.request_timeout = 30
    # Named namespaces (no kopf glob, negation or list) need no namespace watch: a
    # namespace-scoped install may not list namespaces, and kopf would retry the refusal for
    # about a minute of errors before falling back to the names.
    served = get_settings().namespaces
    if served and not any(c in ns for ns in served for c in "!*?,"):
        settings.scanning.disabled = True
    # kopf's 60 s would leave a rollout unattended for a minute after its leader is killed.
    settings.peering.lifetime = get_settings().peering_lifetime_seconds
    kube.api()  # fail fast on a missing kubeconfig
    if not settings.peering.standalone and settings.peering.mandatory:
        ensure_peering(settings.peering.name, settings.peering.clusterwide, logger)
    port = get_settings().metrics_port
    if not metrics.serve(port):
        logger.warning(f"Could not serve metrics on port {port}; running without them")
    logger.info("Started the modelops operator")


def ensure_peering(name: str, clusterwide: bool, logger: kopf.Logger | logging.Logger) -> None:
    """Create the peering objects replicas exchange keep-alives through, if missing: a chart
    cannot create them in the same release as their CRD (the kind is unknown until installed)."""
    kind = "ClusterKopfPeering" if clusterwide else "KopfPeering"
    for path in resync.peering_paths(name, clusterwide, get_settings().namespaces):
        body = {"apiVersion": "kopf.dev/v1", "kind": kind, "metadata": {"name": name}}
        try:
            # The collection the object lives in: its own path without the name.
            kube.create_raw(path.rsplit("/", 1)[0], body)
            logger.info(f"Created {kind} {path.rsplit('/', 1)[0]}/{name}")
        except ApiException as e:
            if e.status != 409:  # already there
                raise


# How often freed memory goes back to the system. glibc keeps what the client threads freed
# after a burst (a thousand objects created at once) in its heaps, resident for good.
TRIM_SECONDS = 30.0
_trim: list[asyncio.Task[None]] = []


async def _trim_forever() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): nothing to trim
        return
    while True:
        await asyncio.sleep(TRIM_SECONDS)
        libc.malloc_trim(0)


@kopf.on.startup()
async def start_trimming(**_: Any) -> None:
    _trim.append(asyncio.create_task(_trim_forever()))


@kopf.on.cleanup()
async def stop_trimming(**_: Any) -> None:
    for task in _trim:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _trim.clear()
