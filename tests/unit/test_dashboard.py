"""The Grafana dashboard queries only metrics the runtime and the operator export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import modelops.operator.metrics  # noqa: F401 - registers the operator's metrics
from modelops.serving_runtime.features.metrics import FeatureMetrics
from modelops.serving_runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "charts" / "modelops" / "dashboards" / "modelops.json"
PROMQL_WORDS = {"sum", "by", "rate", "histogram_quantile", "max", "le", "label_values"}


def exported_series() -> set[str]:
    """Every sample name the code can expose (with _total, _bucket, _sum, _count)."""
    names: set[str] = set()
    runtime = Metrics("m", "1")
    FeatureMetrics(runtime)  # registered when FEATURE_REPO is set
    for registry in (REGISTRY, runtime.registry):
        for family in registry.collect():
            if not family.name.startswith("modelops_"):
                continue
            names.add(family.name)
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
            for suffix in suffixes.get(family.type, []):
                names.add(family.name + suffix)
    return names


def queried_series() -> set[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return {m for e in exprs for m in re.findall(r"\bmodelops_[a-z_]+\b", e)}


def test_every_queried_metric_is_exported() -> None:
    queried = queried_series()
    assert queried, "the dashboard queries nothing"
    missing = queried - exported_series()
    assert not missing, f"the dashboard queries metrics no code exports: {sorted(missing)}"


def test_the_dashboard_covers_runtime_and_operator() -> None:
    queried = queried_series()
    assert any(q.startswith("modelops_runtime_") for q in queried)
    for operator_metric in ("modelops_drift_share", "modelops_feature_freshness_seconds"):
        assert operator_metric in queried


def test_rollout_panels_split_by_version() -> None:
    dash = json.loads(DASHBOARD.read_text())
    rollout = [p for p in dash["panels"] if p["title"].startswith("Rollout:")]
    assert len(rollout) >= 3
    by_version = [t["expr"] for p in rollout for t in p["targets"] if "version" in t["expr"]]
    assert any("requests_total" in e for e in by_version)
    assert any("request_duration_seconds_bucket" in e for e in by_version)
    assert any("traffic_weight" in t["expr"] for p in rollout for t in p["targets"])


def test_runtime_panels_filter_by_namespace_and_model() -> None:
    """Models of one name in two namespaces are two models: every runtime query selects both
    labels (the namespace is the scrape target's, which a PodMonitor adds)."""
    dash = json.loads(DASHBOARD.read_text())
    runtime = [
        t["expr"] for p in dash["panels"] for t in p["targets"] if "modelops_runtime_" in t["expr"]
    ]
    assert runtime
    for expr in runtime:
        for selector in re.findall(r"modelops_runtime_[a-z_]+\{([^}]*)\}", expr):
            assert 'namespace=~"$namespace"' in selector and 'model=~"$model"' in selector, expr
    model = next(v for v in dash["templating"]["list"] if v["name"] == "model")
    assert 'namespace=~"$namespace"' in model["query"]
