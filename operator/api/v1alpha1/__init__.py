"""modelops.dev/v1alpha1: the API types, the single source of truth for the CRDs."""

from modelops.operator.api.base import CrdInfo, KubeModel
from modelops.operator.api.v1alpha1 import drift_monitor, feature_materialization, model_deployment
from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor
from modelops.operator.api.v1alpha1.feature_materialization import FeatureMaterialization
from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment

# Every kind with its CRD metadata, in the order `make crds` writes them.
KINDS: list[tuple[type[KubeModel], CrdInfo]] = [
    (ModelDeployment, model_deployment.CRD_INFO),
    (DriftMonitor, drift_monitor.CRD_INFO),
    (FeatureMaterialization, feature_materialization.CRD_INFO),
]

__all__ = ["KINDS", "DriftMonitor", "FeatureMaterialization", "ModelDeployment"]
