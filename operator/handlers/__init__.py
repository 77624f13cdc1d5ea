"""Every kopf registration of the operator; `kopf run -m modelops.operator.handlers` loads them."""

from modelops.operator.handlers import drift_monitor, model_deployment, startup

__all__ = ["drift_monitor", "model_deployment", "startup"]
