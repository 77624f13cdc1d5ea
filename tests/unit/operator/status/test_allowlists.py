"""The platform team's allowlists for pass-through fields: what a tenant may not ask for."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.operator.settings import OperatorSettings
from modelops.operator.status import allowlists, failures

from ..conftest import make_md

MODEL = {"uri": "models:/fraud@champion"}


def spec(**extra: Any) -> Any:
    return make_md({"model": MODEL, **extra}).spec


def test_defaults_allow_a_cluster_ip_and_no_tolerations() -> None:
    allowlists.check_model_deployment(spec(), OperatorSettings())
    with pytest.raises(allowlists.PolicyViolation, match=r"spec.service.type LoadBalancer"):
        allowlists.check_model_deployment(
            spec(service={"type": "LoadBalancer"}), OperatorSettings()
        )
    with pytest.raises(allowlists.PolicyViolation, match=r"spec.runtime.tolerations\[0\]"):
        allowlists.check_model_deployment(
            spec(runtime={"tolerations": [{"key": "gpu", "effect": "NoSchedule"}]}),
            OperatorSettings(),
        )


def test_every_refused_field_is_named_in_one_message() -> None:
    s = spec(
        service={"type": "NodePort"},
        runtime={"tolerations": [{"key": "a"}, {"operator": "Exists"}]},
    )
    with pytest.raises(allowlists.PolicyViolation) as e:
        allowlists.check_model_deployment(s, OperatorSettings(allowed_tolerations=[{"key": "a"}]))
    text = str(e.value)
    assert "spec.service.type NodePort" in text
    assert "tolerations[0]" not in text  # allowed by the pattern
    assert "spec.runtime.tolerations[1] (key='', operator='Exists'" in text


@pytest.mark.parametrize(
    ("toleration", "pattern", "allowed"),
    [
        ({"key": "gpu", "effect": "NoSchedule"}, {"key": "gpu"}, True),
        ({"key": "gpu", "operator": "Exists"}, {"key": "gpu", "operator": "Equal"}, False),
        ({"key": "gpu"}, {"key": "gpu", "operator": "Equal"}, True),  # Equal is the default
        ({"key": "gpu", "value": "a100"}, {"key": "gpu", "value": "h100"}, False),
        # Tolerating every taint needs a pattern that says so: a key pattern does not.
        ({"operator": "Exists"}, {"key": "gpu"}, False),
        ({"operator": "Exists"}, {}, True),
        ({"key": "x", "effect": "NoExecute"}, {"effect": "NoSchedule"}, False),
    ],
)
def test_a_pattern_matches_on_the_fields_it_names(
    toleration: dict[str, str], pattern: dict[str, str], allowed: bool
) -> None:
    t = spec(runtime={"tolerations": [toleration]}).runtime.tolerations[0]
    assert allowlists.toleration_allowed(t, [pattern]) is allowed


def test_the_allowlists_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELOPS_ALLOWED_SERVICE_TYPES", '["ClusterIP","NodePort"]')
    monkeypatch.setenv("MODELOPS_ALLOWED_TOLERATIONS", '[{"key":"gpu","effect":"NoSchedule"}]')
    settings = OperatorSettings()
    allowlists.check_model_deployment(
        spec(
            service={"type": "NodePort"},
            runtime={"tolerations": [{"key": "gpu", "effect": "NoSchedule"}]},
        ),
        settings,
    )
    monkeypatch.setenv("MODELOPS_ALLOWED_SERVICE_TYPES", '["Ingress"]')
    with pytest.raises(ValueError, match="allowed_service_types"):
        OperatorSettings()


def test_a_violation_is_reported_with_its_own_reason() -> None:
    f = failures.describe(allowlists.PolicyViolation("spec.service.type LoadBalancer ..."))
    assert f.reason == "PolicyViolation"
    assert f.message.startswith("spec.service.type LoadBalancer")


def test_pickle_models_are_an_opt_in_the_policy_can_forbid() -> None:
    asks = spec(model={**MODEL, "allowPickle": True})
    allowlists.check_model_deployment(asks, OperatorSettings())
    with pytest.raises(allowlists.PolicyViolation, match=r"spec.model.allowPickle is not allowed"):
        allowlists.check_model_deployment(asks, OperatorSettings(allow_pickle_models=False))
    allowlists.check_model_deployment(spec(), OperatorSettings(allow_pickle_models=False))


OWN = "http://mlflow.mlflow.svc.cluster.local:5000"
SVC = "http://*.svc.cluster.local:5000"


@pytest.mark.parametrize(
    ("uri", "entries", "allowed"),
    [
        (OWN, [], True),
        ("http://mlflow.mlflow.svc.cluster.local:5001", [], False),
        ("http://169.254.169.254/latest/meta-data", [], False),
        ("file:///var/run/secrets", [], False),
        ("http://mlflow.team-a.svc.cluster.local:5000", [SVC], True),
        # The port and scheme are the entry's, not any.
        ("http://mlflow.team-a.svc.cluster.local:6379", [SVC], False),
        ("https://mlflow.team-a.svc.cluster.local:5000", [SVC], False),
        ("https://reg.example.com", ["https://reg.example.com:443"], True),
        # A host glob does not stretch past the host, whatever the URI hides in user info.
        ("http://x.svc.cluster.local:5000@10.0.0.1:5000", [SVC], False),
        ("http://user:pw@mlflow.svc.cluster.local:5000", [SVC], False),
        ("https://reg.example.com/team-a/x", ["https://reg.example.com/team-a"], True),
        ("https://reg.example.com/team-ab", ["https://reg.example.com/team-a"], False),
        ("https://reg.example.com:notaport", ["https://reg.example.com"], False),
    ],
)
def test_a_tracking_uri_needs_the_operators_own_or_an_allowed_pattern(
    uri: str, entries: list[str], allowed: bool
) -> None:
    assert allowlists.tracking_uri_allowed(uri, OWN, entries) is allowed


def test_a_tracking_uri_outside_the_allowlist_is_refused_by_name() -> None:
    settings = OperatorSettings(mlflow_tracking_uri=OWN)
    allowlists.check_model_deployment(spec(model={**MODEL, "trackingUri": OWN}), settings)
    with pytest.raises(allowlists.PolicyViolation, match=r"spec.model.trackingUri http://10.0.0.9"):
        allowlists.check_model_deployment(
            spec(model={**MODEL, "trackingUri": "http://10.0.0.9:5000"}), settings
        )


def test_a_service_account_needs_the_policys_leave_in_every_pod_a_spec_makes() -> None:
    runtime = {"serviceAccountName": "model-runtime"}
    validation_job = {
        "candidate": "models:/fraud@challenger",
        "validation": {
            "data": "s3://b/holdout.parquet",
            "target": "label",
            "metrics": [{"name": "accuracy", "min": 0.8}],
            "job": {"serviceAccountName": "admin"},
        },
    }
    with pytest.raises(allowlists.PolicyViolation) as e:
        allowlists.check_model_deployment(
            spec(runtime=runtime, rollout=validation_job), OperatorSettings()
        )
    text = str(e.value)
    assert "spec.runtime.serviceAccountName model-runtime is not allowed here" in text
    assert "spec.rollout.validation.job.serviceAccountName admin" in text
    allowed = OperatorSettings(allowed_service_accounts=["model-*"])
    allowlists.check_model_deployment(spec(runtime=runtime), allowed)
    with pytest.raises(allowlists.PolicyViolation, match="admin is not allowed"):
        allowlists.check_model_deployment(spec(runtime=runtime, rollout=validation_job), allowed)
    # The scheduled kinds' jobs too.
    job = make_md({"model": MODEL, "runtime": runtime}).spec.runtime
    allowlists.check_scheduled(job, allowed)
    with pytest.raises(allowlists.PolicyViolation, match=r"spec.job.serviceAccountName"):
        allowlists.check_scheduled(job, OperatorSettings())


@pytest.mark.parametrize("rule", ["required", "preferred"])
def test_pod_affinity_may_look_at_this_namespace_alone(rule: str) -> None:
    term: dict[str, Any] = {
        "labelSelector": {"matchLabels": {"app": "db"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    key = f"{rule}DuringSchedulingIgnoredDuringExecution"
    wrap = (lambda t: t) if rule == "required" else (lambda t: {"weight": 1, "podAffinityTerm": t})
    own = {"podAffinity": {key: [wrap(term)]}}
    allowlists.check_model_deployment(spec(runtime={"affinity": own}), OperatorSettings())
    for reach in ({"namespaces": ["other"]}, {"namespaceSelector": {}}):
        other = {"podAntiAffinity": {key: [wrap({**term, **reach})]}}
        with pytest.raises(allowlists.PolicyViolation, match=f"podAntiAffinity.{key}\\[0\\]"):
            allowlists.check_model_deployment(spec(runtime={"affinity": other}), OperatorSettings())
