"""Pure: what resolving a model in the registry found, and whether the runtime can load it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from modelops.operator.api.v1alpha1.model_deployment import ResolvedModel
from modelops.operator.settings import OperatorSettings

RESOLVED = "Resolved"
REGISTRY_UNAVAILABLE = "RegistryUnavailable"
MODEL_NOT_FOUND = "ModelNotFound"


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving spec.model.uri against the registry."""

    model: ResolvedModel | None
    reason: str = RESOLVED
    message: str = ""


@dataclass(frozen=True)
class Compatibility:
    """The pre-flight check of the model's flavors and requirements against the runtime."""

    compatible: bool | None  # None: not checked (not a registry model, or registry down)
    message: str = ""


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def code_loading_problem(flavors: dict[str, Any], allow_pickle: bool) -> str | None:
    """Why the runtime would refuse to load the model (it runs code of its own when loaded)
    without spec.model.allowPickle; None when it would load."""
    if allow_pickle:
        return None
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, dict):
        fmt = sklearn.get("serialization_format", "cloudpickle")
        if fmt == "skops":
            return None
        return (
            f"the model is serialized with {fmt}, which runs code from the artifact when "
            "loaded: log it with serialization_format='skops', or set spec.model.allowPickle"
        )
    if "python_function" in flavors:
        return (
            "a python_function model runs its own code when loaded: set spec.model.allowPickle "
            "to serve it"
        )
    return None


def compatibility_problems(
    mlmodel: dict[str, Any],
    requirements: str,
    settings: OperatorSettings,
    allow_pickle: bool = True,
) -> list[str]:
    """The mismatches between a model's needs (MLmodel, requirements.txt) and the runtime."""
    problems: list[str] = []
    shipped = {canonicalize_name(k): v for k, v in settings.runtime_packages.items()}
    flavors: dict[str, Any] = mlmodel.get("flavors") or {}
    refused = code_loading_problem(flavors, allow_pickle)
    if refused is not None:
        problems.append(refused)
    for flavor, conf in flavors.items():
        if flavor not in settings.runtime_flavors:
            problems.append(f"flavor {flavor} is not supported by the runtime")
            continue
        package = settings.runtime_flavors[flavor]
        version_key = f"{flavor}_version"
        if package and isinstance(conf, dict) and conf.get(version_key):
            want = _major_minor(str(conf[version_key]))
            have = shipped.get(canonicalize_name(package))
            if have is not None and want != have:
                problems.append(f"{package} {conf[version_key]} (runtime ships {have})")
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        pinned = [s.version for s in req.specifier if s.operator == "=="]
        # MLflow records every module the logging process had imported (pytest, rich, ...),
        # so a package the runtime does not ship is not by itself a reason to refuse; the
        # flavor check above catches a missing framework.
        if name in shipped and pinned and _major_minor(pinned[0]) != shipped[name]:
            message = f"{req.name}=={pinned[0]} (runtime ships {shipped[name]})"
            if message not in problems and not any(p.startswith(f"{req.name} ") for p in problems):
                problems.append(message)
    return problems
