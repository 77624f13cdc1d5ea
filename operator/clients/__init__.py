"""The operator's I/O: the Kubernetes API, the MLflow registry, and outgoing webhooks."""
