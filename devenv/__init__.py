"""Local development environment: the control plane, MLflow, Redis and an S3-compatible object
store (S3Proxy) as plain processes."""

# Standard library only in every module: `make cluster-up` runs it with the system python3,
# before the virtualenv exists. Not part of the modelops wheel (see pyproject's packages).

from .cluster import (
    CLUSTER_COMPONENTS,
    NODE_NAMES,
    OPERATOR_USER,
    build_binaries,
    cluster_down,
    cluster_running,
    cluster_up,
    kubectl,
    node_manifest,
    operator_requests,
)
from .faults import restart
from .node import (
    HOST_SERVICES_NAMESPACE,
    NODE_IP,
    NODE_NAME,
    NODE_PROCESSES,
    SIMULATED_NAMESPACE_ANNOTATIONS,
    import_images,
    node_down,
    node_endpoint,
    node_running,
    node_up,
    publish,
)
from .process import ROOT, STATE, Proc, free_port, log, tail, venv_bin, wait_http
from .services import (
    S3_BUCKET,
    get_s3,
    mlflow_start,
    redis_start,
    s3_env,
    s3_start,
    services_down,
    services_up,
)

__all__ = [
    "CLUSTER_COMPONENTS",
    "HOST_SERVICES_NAMESPACE",
    "NODE_IP",
    "NODE_NAME",
    "NODE_PROCESSES",
    "SIMULATED_NAMESPACE_ANNOTATIONS",
    "import_images",
    "restart",
    "node_down",
    "node_endpoint",
    "node_running",
    "node_up",
    "publish",
    "NODE_NAMES",
    "OPERATOR_USER",
    "ROOT",
    "S3_BUCKET",
    "STATE",
    "Proc",
    "build_binaries",
    "get_s3",
    "cluster_down",
    "cluster_running",
    "cluster_up",
    "free_port",
    "kubectl",
    "log",
    "mlflow_start",
    "node_manifest",
    "operator_requests",
    "redis_start",
    "s3_env",
    "s3_start",
    "services_down",
    "services_up",
    "tail",
    "venv_bin",
    "wait_http",
]
