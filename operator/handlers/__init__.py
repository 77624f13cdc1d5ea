"""Every kopf registration of the operator; `kopf run -m modelops.operator.handlers` loads them."""

from modelops.operator.handlers import (
    drift_monitor,
    feature_materialization,
    model_deployment,
    resync,
    retraining,
    startup,
)

__all__ = [
    "drift_monitor",
    "feature_materialization",
    "model_deployment",
    "resync",
    "retraining",
    "startup",
]
