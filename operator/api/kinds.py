"""Every kind the operator reads or writes, spelled once: group, version, plural."""

from __future__ import annotations

from dataclasses import dataclass

from modelops.operator.api.base import GROUP, VERSION
from modelops.operator.api.v1alpha1.drift_monitor import CRD_INFO as DRIFT_MONITOR_CRD
from modelops.operator.api.v1alpha1.feature_materialization import (
    CRD_INFO as FEATURE_MATERIALIZATION_CRD,
)
from modelops.operator.api.v1alpha1.model_deployment import CRD_INFO as MODEL_DEPLOYMENT_CRD

# A child's identity: API group, kind, name (versions of one group are the same object).
Key = tuple[str, str, str]


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> tuple[str, str, str]:
        """(group, version, plural), as kopf's decorators take it."""
        return (self.group, self.version, self.plural)

    @property
    def prefix(self) -> str:
        """The URL path the kind's namespaced collections hang under."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


MODEL_DEPLOYMENT = Kind(MODEL_DEPLOYMENT_CRD.kind, GROUP, VERSION, MODEL_DEPLOYMENT_CRD.plural)
DRIFT_MONITOR = Kind(DRIFT_MONITOR_CRD.kind, GROUP, VERSION, DRIFT_MONITOR_CRD.plural)
FEATURE_MATERIALIZATION = Kind(
    FEATURE_MATERIALIZATION_CRD.kind, GROUP, VERSION, FEATURE_MATERIALIZATION_CRD.plural
)
DEPLOYMENT = Kind("Deployment", "apps", "v1", "deployments")
SERVICE = Kind("Service", "", "v1", "services")
HPA = Kind("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers")
PDB = Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets")
CRON_JOB = Kind("CronJob", "batch", "v1", "cronjobs")
JOB = Kind("Job", "batch", "v1", "jobs")
CONFIG_MAP = Kind("ConfigMap", "", "v1", "configmaps")
POD = Kind("Pod", "", "v1", "pods")

BY_NAME: dict[str, Kind] = {
    k.kind: k
    for k in (
        MODEL_DEPLOYMENT,
        DRIFT_MONITOR,
        FEATURE_MATERIALIZATION,
        DEPLOYMENT,
        SERVICE,
        HPA,
        PDB,
        CRON_JOB,
        JOB,
        CONFIG_MAP,
        POD,
    )
}
