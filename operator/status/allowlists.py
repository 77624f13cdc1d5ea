"""Pure: the platform team's allowlists for fields a ModelDeployment passes through to the
cluster as written (the Service type, pod tolerations) and for models that run their own code
(spec.model.allowPickle). A tenant who may create ModelDeployments must not get a cloud load
balancer, pods on reserved nodes, or pickle loading where the platform forbids it by asking."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from modelops.operator.api.v1alpha1.model_deployment import ModelDeploymentSpec, Toleration
from modelops.operator.settings import OperatorSettings, TolerationField

TOLERATION_FIELDS: tuple[TolerationField, ...] = ("key", "operator", "value", "effect")


class PolicyViolation(Exception):
    """The spec asks for something the operator's policy does not allow: nothing is applied
    (children already running are left as they are) until the spec or the policy changes."""


def _wire(t: Toleration) -> dict[TolerationField, str]:
    # The API server's defaults, so that a pattern for Equal matches an unset operator.
    return {
        "key": t.key or "",
        "operator": t.operator or "Equal",
        "value": t.value or "",
        "effect": t.effect or "",
    }


def toleration_allowed(t: Toleration, patterns: Iterable[Mapping[TolerationField, str]]) -> bool:
    """Whether some pattern matches: each field a pattern names must be equal, a field it
    leaves out matches anything (so `{}` allows every toleration, deliberately)."""
    have = _wire(t)
    return any(all(have[f] == p[f] for f in TOLERATION_FIELDS if f in p) for p in patterns)


def describe_toleration(t: Toleration) -> str:
    w = _wire(t)
    return ", ".join(f"{f}={w[f]!r}" for f in TOLERATION_FIELDS)


def check_model_deployment(spec: ModelDeploymentSpec, settings: OperatorSettings) -> None:
    """Raises PolicyViolation naming every field the allowlists refuse."""
    refused: list[str] = []
    allowed_types = settings.allowed_service_types
    if spec.service.type not in allowed_types:
        refused.append(
            f"spec.service.type {spec.service.type} is not allowed here "
            f"(allowed: {', '.join(allowed_types) or 'none'})"
        )
    for i, t in enumerate(spec.runtime.tolerations or []):
        if not toleration_allowed(t, settings.allowed_tolerations):
            refused.append(
                f"spec.runtime.tolerations[{i}] ({describe_toleration(t)}) matches no "
                "toleration the operator allows"
            )
    if spec.model.allow_pickle and not settings.allow_pickle_models:
        refused.append(
            "spec.model.allowPickle is not allowed here (models that run their own code "
            "when loaded); log the model with skops"
        )
    if refused:
        raise PolicyViolation(
            "; ".join(refused) + ". Ask the platform team (the operator's "
            "MODELOPS_ALLOWED_SERVICE_TYPES, MODELOPS_ALLOWED_TOLERATIONS and "
            "MODELOPS_ALLOW_PICKLE_MODELS, the chart's policy values) or change the spec."
        )
