"""An example retraining job for a DriftMonitor's spec.retrain: trains the served model's
estimator again on the window's logged predictions' features and the labels clients sent for
them, and registers the result under the alias the operator names.

Run by the operator with the runtime image (it has MLflow, scikit-learn, pandas, redis and
the modelops readers) and this file mounted from a ConfigMap:

    kubectl create configmap trainer --from-file=examples/retrain/train.py
    # spec.retrain: {command: [python, /opt/trainer/train.py],
    #                configMaps: [{name: trainer, mountPath: /opt/trainer}]}

Everything it needs arrives in the environment (docs/feedback-loop.md lists it); set
TRAINING_DATA_URI (spec.retrain.env, e.g. s3://bucket/retrain/fraud) to keep the training
data where the monitor can use it as its next reference. The one
contract with the operator: tag the registered version modelops.retrain_id=$MODELOPS_RETRAIN_ID
and point $MODELOPS_REGISTER_ALIAS at it. Anything else (the estimator, the data, checks of
its own) is the author's to change.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

MIN_ROWS = 100


def main() -> int:
    import mlflow
    import pandas as pd
    import redis
    from mlflow.models import infer_signature
    from sklearn.base import clone

    from modelops.serving_runtime.jobs.performance import join_log
    from modelops.serving_runtime.predlog import read_labels, read_window

    env = os.environ
    name, stable = env["MODELOPS_MODEL_NAME"], env["MODELOPS_STABLE_VERSION"]
    alias, retrain_id = env["MODELOPS_REGISTER_ALIAS"], env["MODELOPS_RETRAIN_ID"]
    start = float(env["MODELOPS_WINDOW_START"])
    stream = env["PREDICTION_LOG_STREAM"]
    client = redis.Redis.from_url(env["PREDICTION_LOG_REDIS_URL"], socket_timeout=10)

    # The window's predictions, each with the label a client sent for it.
    logged = read_window(client, stream, start)
    labels = read_labels(client, stream, start)
    joined, features, counts = join_log(logged, labels)
    print(json.dumps({"window": counts}), flush=True)
    if len(joined) < MIN_ROWS:
        raise SystemExit(f"only {len(joined)} labelled predictions in the window; need {MIN_ROWS}")

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    served = mlflow.sklearn.load_model(f"models:/{name}/{stable}")
    frame = features[[str(c) for c in served.feature_names_in_]].astype(float)
    target = pd.Series(joined["label"].to_numpy(), name="label").astype(served.classes_.dtype)
    model = clone(served).fit(frame, target)

    mlflow.set_experiment(f"{name}-retraining")
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")  # MLflow's hints about integer class labels
        with mlflow.start_run(run_name=f"retrain-{retrain_id}") as run:
            mlflow.set_tags(
                {
                    "modelops.retrain_id": retrain_id,
                    "modelops.retrain_reason": env.get("MODELOPS_RETRAIN_REASON", ""),
                }
            )
            data_uri = env.get("TRAINING_DATA_URI")
            if data_uri:
                # Kept where jobs can read it, and logged as the run's training data: the
                # DriftMonitor's next reference (mlflow.log_input).
                from mlflow.store.artifact.artifact_repository_registry import (
                    get_artifact_repository,
                )

                data = Path(tmp) / "train.parquet"
                frame.assign(label=target).to_parquet(data)
                kept = f"{data_uri.rstrip('/')}/{retrain_id}"
                get_artifact_repository(kept).log_artifact(str(data))
                source = f"{kept}/train.parquet"
                dataset = mlflow.data.from_pandas(frame, source=source, name="train")
                mlflow.log_input(dataset, context="training")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(frame, model.predict(frame)),
                input_example=frame.head(2),
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
    registered = mlflow.register_model(
        info.model_uri, name, tags={"modelops.retrain_id": retrain_id}
    )
    version = str(registered.version)
    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
    print(
        json.dumps({"version": version, "alias": alias, "rows": len(frame), "run": run.info.run_id})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
