"""Pure: the platform team's allowlists for fields a spec passes through to the cluster as
written (the Service type, pod tolerations, the pods' ServiceAccount and affinity), for models
that run their own code (spec.model.allowPickle) and for the registries the operator itself
calls (trackingUri). A tenant who may create these kinds must not get a cloud load balancer,
pods on reserved nodes, a privileged ServiceAccount, pickle loading or the operator's network
position where the platform forbids it by asking."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from urllib.parse import SplitResult, urlsplit

from modelops.operator.api.v1alpha1.model_deployment import ModelDeploymentSpec, Toleration
from modelops.operator.api.v1alpha1.pod import PodOptions
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


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _port(u: SplitResult) -> int | None:
    try:
        return u.port or _DEFAULT_PORTS.get(u.scheme)
    except ValueError:  # a port that is not a number matches nothing
        return -1


def tracking_uri_allowed(uri: str, default: str, entries: Iterable[str]) -> bool:
    """The operator's own tracking URI, or one an entry covers: same scheme and port, host
    matching the entry's (shell-style, no user info), path under the entry's path."""
    if uri == default:
        return True
    u = urlsplit(uri)
    if u.username is not None or u.password is not None:
        return False
    for entry in entries:
        e = urlsplit(entry)
        prefix = e.path.rstrip("/")
        if (
            u.scheme == e.scheme
            and _port(u) == _port(e)
            and fnmatchcase((u.hostname or ""), (e.hostname or ""))
            and (u.path == prefix or u.path.startswith(prefix + "/") or not prefix)
        ):
            return True
    return False


def pod_option_problems(options: PodOptions, settings: OperatorSettings, path: str) -> list[str]:
    """What the policy refuses of a spec's pod options at `path` (spec.runtime, spec.job)."""
    refused: list[str] = []
    account = options.service_account_name
    if account and not any(fnmatchcase(account, p) for p in settings.allowed_service_accounts):
        refused.append(
            f"{path}.serviceAccountName {account} is not allowed here (a ServiceAccount may "
            "hold rights the author lacks; allowed: "
            f"{', '.join(settings.allowed_service_accounts) or 'none'})"
        )
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = (options.affinity or {}).get(kind) or {}
        for rule in (
            "requiredDuringSchedulingIgnoredDuringExecution",
            "preferredDuringSchedulingIgnoredDuringExecution",
        ):
            for i, term in enumerate(terms.get(rule) or []):
                term = term.get("podAffinityTerm", term) if isinstance(term, dict) else {}
                if {"namespaces", "namespaceSelector"} & set(term):
                    refused.append(
                        f"{path}.affinity.{kind}.{rule}[{i}] looks at other namespaces "
                        "(namespaces or namespaceSelector): pod affinity may only look at "
                        "this namespace's pods"
                    )
    return refused


def check_scheduled(job: PodOptions, settings: OperatorSettings) -> None:
    """Raises PolicyViolation naming what the policy refuses of a scheduled kind's job."""
    refused = pod_option_problems(job, settings, "spec.job")
    if refused:
        raise PolicyViolation(
            "; ".join(refused) + ". Ask the platform team (MODELOPS_ALLOWED_SERVICE_ACCOUNTS, "
            "the chart's policy.allowedServiceAccounts) or change the spec."
        )


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
    uri = spec.model.tracking_uri
    if uri and not tracking_uri_allowed(
        uri, settings.mlflow_tracking_uri, settings.allowed_tracking_uris
    ):
        refused.append(
            f"spec.model.trackingUri {uri} is not allowed here (the operator's registry "
            f"{settings.mlflow_tracking_uri} and {len(settings.allowed_tracking_uris)} "
            "allowed pattern(s))"
        )
    refused += pod_option_problems(spec.runtime, settings, "spec.runtime")
    if spec.rollout.validation is not None:
        refused += pod_option_problems(
            spec.rollout.validation.job, settings, "spec.rollout.validation.job"
        )
    if spec.model.allow_pickle and not settings.allow_pickle_models:
        refused.append(
            "spec.model.allowPickle is not allowed here (models that run their own code "
            "when loaded); log the model with skops"
        )
    if refused:
        raise PolicyViolation(
            "; ".join(refused) + ". Ask the platform team (the operator's "
            "MODELOPS_ALLOWED_SERVICE_TYPES, MODELOPS_ALLOWED_TOLERATIONS, "
            "MODELOPS_ALLOWED_TRACKING_URIS, MODELOPS_ALLOWED_SERVICE_ACCOUNTS and "
            "MODELOPS_ALLOW_PICKLE_MODELS, the chart's policy values) or change the spec."
        )
