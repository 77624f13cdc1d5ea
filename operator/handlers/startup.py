"""Operator-wide kopf settings."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from modelops.operator import metrics
from modelops.operator.k8s import apply as k8s
from modelops.operator.settings import get_settings


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> None:
    # Progress and diff-base live in annotations under our own prefix; status is structural
    # and belongs to the conditions and facts users read.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="modelops.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="modelops.dev", key="last-handled-configuration"
    )
    settings.persistence.finalizer = "modelops.dev/finalizer"
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.execution.max_workers = 20
    settings.networking.request_timeout = 30
    k8s.api()  # fail fast on a missing kubeconfig
    port = get_settings().metrics_port
    if not metrics.serve(port):
        logger.warning(f"Could not serve metrics on port {port}; running without them")
    logger.info("Started the modelops operator")
