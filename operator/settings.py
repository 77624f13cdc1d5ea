"""Operator configuration, from MODELOPS_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# What the runtime image ships (major.minor), for the ModelCompatible pre-flight check. The
# operator image does not carry these packages, so the table lives here; a contract test keeps
# it equal to what the runtime extra resolves to.
RUNTIME_PACKAGES: dict[str, str] = {
    "mlflow": "3.17",
    "scikit-learn": "1.9",
    "numpy": "2.4",
    "pandas": "2.3",
    "scipy": "1.17",
    "cloudpickle": "3.1",
    "skops": "0.16",
    "pyarrow": "25.0",
}
# MLflow flavors the runtime can load, and the package each one needs.
RUNTIME_FLAVORS: dict[str, str | None] = {
    "python_function": None,
    "sklearn": "scikit-learn",
}


ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
TolerationField = Literal["key", "operator", "value", "effect"]


def _cluster_ip_only() -> list[ServiceType]:
    return ["ClusterIP"]


class OperatorSettings(BaseSettings):
    """Defaults for every ModelDeployment, DriftMonitor and FeatureMaterialization."""

    model_config = SettingsConfigDict(env_prefix="MODELOPS_", frozen=True)

    mlflow_tracking_uri: str = "http://mlflow.mlflow.svc.cluster.local:5000"
    """MLflow tracking/registry server, used when a spec names none."""
    runtime_image: str = "ghcr.io/modelops/runtime:0.1.0"
    """The serving runtime image, used when a spec names none."""
    model_poll_seconds: float = Field(default=60.0, gt=0)
    """How often aliases are re-resolved (a moved alias rolls out), each at its own offset
    into the interval. A numbered version is never looked up again once resolved."""
    peering_lifetime_seconds: int = Field(default=20, ge=15, le=600)
    """How long a replica's keep-alive counts (with peering): a standby takes over at most
    this long after the working replica died without saying goodbye. kopf renews it 5-10 s
    before it runs out, hence the floor."""
    resync_seconds: float = Field(default=3600.0, gt=0)
    """How often a settled ModelDeployment gets a full pass (children listed and compared) on
    top of the watches, which restore an edited or deleted child at once."""
    redis_url: str | None = None
    """Default Redis for prediction logs."""
    cluster_domain: str = "cluster.local"
    """The cluster's DNS domain, for status.url."""
    namespaces: list[str] = Field(default_factory=list)
    """The namespaces the operator serves (JSON list); empty: all. `modelops-operator` passes
    them to kopf, and sets them from its own `--namespace` arguments."""
    excluded_namespaces: list[str] = Field(default_factory=lambda: ["kube-system"])
    """Namespaces the operator never acts in, whoever creates resources there (JSON list): its
    watches and periodic passes leave them out on the server side."""
    runtime_packages: dict[str, str] = Field(default_factory=lambda: dict(RUNTIME_PACKAGES))
    """Package major.minor versions the runtime image ships (JSON)."""
    runtime_flavors: dict[str, str | None] = Field(default_factory=lambda: dict(RUNTIME_FLAVORS))
    """MLflow flavors the runtime can load (JSON)."""
    registry_timeout_seconds: float = Field(default=10.0, gt=0)
    """Timeout for one MLflow registry call."""
    metrics_port: int = Field(default=8000, ge=0, le=65535)
    """Port of the operator's Prometheus /metrics (0 turns it off)."""
    allowed_service_types: list[ServiceType] = Field(default_factory=_cluster_ip_only)
    """Service types a ModelDeployment may ask for (JSON list); others are refused."""
    allowed_tolerations: list[dict[TolerationField, str]] = Field(default_factory=list)
    """Tolerations a ModelDeployment may carry (JSON list of patterns: each field a pattern
    names must be equal, one it leaves out matches anything); none by default."""
    allowed_tracking_uris: list[str] = Field(default_factory=list)
    """Tracking URIs a ModelDeployment may name besides mlflow_tracking_uri (JSON list): the
    operator calls them with its own network position. An entry matches a URI with the same
    scheme and port, a host matching the entry's host (shell-style, `*.svc.cluster.local`)
    and a path under the entry's path. None by default."""
    allowed_service_accounts: list[str] = Field(default_factory=list)
    """ServiceAccounts a spec's pods may run as (JSON list of shell-style patterns, e.g.
    ["model-runtime", "team-*"]), in the spec's own namespace; none by default: the pods run as
    the namespace's default ServiceAccount."""
    preflight_max_bytes: int = Field(default=1_048_576, gt=0)
    """The largest MLmodel or requirements.txt the pre-flight check downloads."""
    allow_pickle_models: bool = True
    """Whether a ModelDeployment may opt in to models that run their own code when loaded
    (spec.model.allowPickle); false refuses every such spec."""
    rollout_signing_key_file: str = ""
    """A file holding rollout_signing_key (the chart mounts its Secret there); read at start."""
    rollout_signing_key: str = Field(default="", repr=False)
    """An Ed25519 private key (PEM, from a Secret; the chart makes one) that signs the traffic
    configurations pushed to model pods during rollouts; the pods hold its public half. Every
    replica must share it. Unset, a key is made per process: pushes still work, but a
    restarted operator's new public key rolls every rollout-enabled pod once."""


@lru_cache
def get_settings() -> OperatorSettings:
    settings = OperatorSettings()
    if settings.rollout_signing_key_file and not settings.rollout_signing_key:
        pem = Path(settings.rollout_signing_key_file).read_text()
        settings = settings.model_copy(update={"rollout_signing_key": pem})
    return settings
