"""Model pods over HTTP: read their per-version metrics, push a rollout's traffic to them."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import urllib3
from prometheus_client.parser import text_string_to_metric_families

from modelops.operator.resources.common import RUNTIME_PORT
from modelops.operator.status.analysis import Figures

log = logging.getLogger(__name__)
PREFIX = "modelops_runtime_"
SCORING = {"/predict", "/predict/batch", "/invocations", "/v2/models/{name}/infer"}
SHADOW = {
    "shadow_rows_total": "shadow_rows",
    "shadow_equal_rows_total": "shadow_equal",
    "shadow_abs_diff_total": "shadow_abs_diff",
    "shadow_stable_sum": "shadow_sum",
    "shadow_stable_sq_sum_total": "shadow_sq_sum",
    "shadow_errors_total": "shadow_errors",
}
# Short: a pod that does not answer at once is skipped this pass, not waited for.
_http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=3.0), retries=False)


@dataclass
class PodFigures:
    revision: int | None = None
    """The traffic revision all of the pod's workers apply (None: none reported)."""
    versions: dict[str, Figures] = field(default_factory=dict)


def parse(text: str) -> PodFigures:
    """A pod's /metrics -> its traffic revision and per-version figures."""
    out = PodFigures()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removeprefix(PREFIX)
            labels, value = sample.labels, float(sample.value)
            if name == "traffic_revision":
                out.revision = int(value)
                continue
            version = labels.get("version")
            if version is None:
                continue
            fig = out.versions.setdefault(version, Figures())
            scoring = labels.get("endpoint") in SCORING
            if name == "requests_total" and scoring:
                fig.requests += value
                if labels.get("code", "").startswith("5"):
                    fig.errors += value
            elif name == "request_duration_seconds_bucket" and scoring:
                bound = float(labels["le"])
                fig.buckets[bound] = fig.buckets.get(bound, 0.0) + value
            elif name in SHADOW:
                setattr(fig, SHADOW[name], getattr(fig, SHADOW[name]) + value)
    return out


def scrape(ip: str) -> PodFigures | None:
    try:
        r = _http.request("GET", f"http://{ip}:{RUNTIME_PORT}/metrics")
    except urllib3.exceptions.HTTPError as e:
        log.debug(f"Could not scrape {ip}: {e}")
        return None
    if r.status != 200:
        return None
    return parse(r.data.decode())


def push(ip: str, body: dict[str, Any]) -> bool:
    try:
        r = _http.request(
            "PUT",
            f"http://{ip}:{RUNTIME_PORT}/admin/traffic",
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
    except urllib3.exceptions.HTTPError as e:
        log.debug(f"Could not push traffic to {ip}: {e}")
        return False
    if r.status != 200:
        log.warning(f"Pod {ip} refused the traffic push: {r.status} {r.data[:300]!r}")
    return r.status == 200
