"""Every kopf registration of the operator; `kopf run -m modelops.operator.handlers` loads them."""

from modelops.operator.handlers import model_deployment, startup

__all__ = ["model_deployment", "startup"]
