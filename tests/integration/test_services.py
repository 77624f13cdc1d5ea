"""The MLflow tracking server and Redis fixtures are the real servers."""

from __future__ import annotations

import redis


def test_redis_answers(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    r.set("modelops:smoke", "1")
    assert r.get("modelops:smoke") == b"1"
    assert r.info("server")["redis_version"]


def test_mlflow_registers_and_resolves_an_alias(mlflow_url: str) -> None:
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    c.create_registered_model("smoke")
    run = c.create_run(c.create_experiment("smoke"))
    v1 = c.create_model_version("smoke", f"runs:/{run.info.run_id}/model", run.info.run_id)
    v2 = c.create_model_version("smoke", f"runs:/{run.info.run_id}/model", run.info.run_id)
    c.set_registered_model_alias("smoke", "champion", v1.version)
    assert c.get_model_version_by_alias("smoke", "champion").version == v1.version
    c.set_registered_model_alias("smoke", "champion", v2.version)
    assert c.get_model_version_by_alias("smoke", "champion").version == v2.version
