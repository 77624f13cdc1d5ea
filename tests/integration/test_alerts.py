"""The chart's PrometheusRule: promtool checks the rules and runs unit tests of each alert on
synthetic series (`promtool test rules`), with the rules as `helm template` renders them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import devenv
from tests.tools import tool

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "modelops"
pytestmark = pytest.mark.timeout(600)  # the first run builds promtool


def rendered_groups(*sets: str) -> list[dict[str, Any]]:
    helm = devenv.build_binaries() / "helm"
    args = ["--set", "metrics.prometheusRule.enabled=true"]
    for s in sets:
        # --set-json: `--set` leaves a fraction a string, which the values schema refuses.
        args += ["--set-json", s]
    out = subprocess.run(
        [str(helm), "template", "t", str(CHART), *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (rule,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "PrometheusRule"]
    return rule["spec"]["groups"]  # type: ignore[no-any-return]


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], cwd=cwd, capture_output=True, text=True)


def series(metric: str, values: str, /, **labels: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{inner}}}", "values": values}


def buckets(values_by_le: dict[str, str], **labels: str) -> list[dict[str, str]]:
    metric = "modelops_runtime_request_duration_seconds_bucket"
    return [series(metric, v, **labels, le=le) for le, v in values_by_le.items()]


def requests(values: str, code: str, endpoint: str = "/predict", **labels: str) -> dict[str, str]:
    return series("modelops_runtime_requests_total", values, **labels, endpoint=endpoint, code=code)


# Thirty minutes of one-minute samples. Two namespaces hold a model of the same name:
# each is judged alone.
INPUT = [
    # p99 about 0.25 s in `slow`, 0.05 s in `fast`.
    *buckets(
        {"0.05": "0+0x30", "0.25": "0+60x30", "+Inf": "0+60x30"},
        namespace="slow",
        model="fraud",
        version="1",
        endpoint="/predict",
    ),
    *buckets(
        {"0.05": "0+60x30", "0.25": "0+60x30", "+Inf": "0+60x30"},
        namespace="fast",
        model="fraud",
        version="1",
        endpoint="/predict",
    ),
    # 2% of scoring requests fail in `bad`; in `fine` 0.05% do, and neither its 4xx nor its
    # readiness probe's 503s while loading are scoring failures.
    requests("0+98x30", "200", namespace="bad", model="fraud", version="1"),
    requests("0+2x30", "500", namespace="bad", model="fraud", version="1"),
    requests("0+1000x30", "200", namespace="fine", model="fraud", version="1"),
    requests("0+0.5x30", "503", namespace="fine", model="fraud", version="1"),
    requests("0+50x30", "422", namespace="fine", model="fraud", version="1"),
    requests(
        "0+100x30", "503", endpoint="/v2/health/ready", namespace="fine", model="fraud", version="1"
    ),
    series("modelops_drift_share", "0.5x30", namespace="a", monitor="drifty"),
    series("modelops_drift_share", "0.1x30", namespace="a", monitor="calm"),
    series("modelops_model_performance", "0.8x30", namespace="a", monitor="q", metric="accuracy"),
    series(
        "modelops_model_performance", "0.9x30", namespace="a", monitor="good", metric="accuracy"
    ),
    series("modelops_model_performance", "0.5x30", namespace="a", monitor="good", metric="f1"),
    *[
        series(f"modelops_resource_{gauge}", value, kind="ModelDeployment", namespace="a", name=n)
        for n, ready, suspended in (("down", "0", "0"), ("paused", "0", "1"), ("up", "1", "0"))
        for gauge, value in (("ready", f"{ready}x30"), ("suspended", f"{suspended}x30"))
    ],
]


def alerts(name: str, *label_sets: dict[str, str], severity: str = "warning") -> dict[str, Any]:
    return {
        "eval_time": "20m",
        "alertname": name,
        "exp_alerts": [{"exp_labels": {**labels, "severity": severity}} for labels in label_sets],
    }


def run_alert_tests(tmp_path: Path, groups: list[dict[str, Any]], expected: list[Any]) -> None:
    # Annotations are templates `promtool check rules` parses; these tests are about which
    # alerts fire, so the copy under test has none to match.
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    checked = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    cases = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": INPUT, "alert_rule_test": expected}],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(cases))
    done = promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rendered_rules_pass_promtool_check_with_their_annotations(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rendered_groups()}))
    done = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout, done.stdout


def test_each_sla_alert_fires_for_its_breach_alone(tmp_path: Path) -> None:
    run_alert_tests(
        tmp_path,
        rendered_groups(),
        [
            alerts("ModelLatencyHigh", {"namespace": "slow", "model": "fraud"}),
            alerts(
                "ModelErrorRateHigh", {"namespace": "bad", "model": "fraud"}, severity="critical"
            ),
            alerts("ModelAvailabilityBelowSLO", {"namespace": "bad", "model": "fraud"}),
            alerts("ModelDriftHigh", {"namespace": "a", "monitor": "drifty"}),
            alerts("ModelAccuracyLow", {"namespace": "a", "monitor": "q", "metric": "accuracy"}),
            alerts(
                "ModelOpsResourceNotReady",
                {"kind": "ModelDeployment", "namespace": "a", "name": "down"},
            ),
            # Pending, not firing, before its 15 minutes.
            {"eval_time": "10m", "alertname": "ModelOpsResourceNotReady", "exp_alerts": []},
        ],
    )


def test_the_thresholds_are_values(tmp_path: Path) -> None:
    """Raised thresholds: the same series breach nothing."""
    run_alert_tests(
        tmp_path,
        rendered_groups(
            "metrics.prometheusRule.latencyP99Seconds=0.5",
            "metrics.prometheusRule.errorRatio=0.05",
            "metrics.prometheusRule.availability=0.95",
            "metrics.prometheusRule.driftShare=0.6",
            "metrics.prometheusRule.minAccuracy=0.7",
        ),
        [
            {"eval_time": "20m", "alertname": name, "exp_alerts": []}
            for name in (
                "ModelLatencyHigh",
                "ModelErrorRateHigh",
                "ModelAvailabilityBelowSLO",
                "ModelDriftHigh",
                "ModelAccuracyLow",
            )
        ],
    )
