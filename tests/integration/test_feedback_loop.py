"""The whole loop on the real node: the world changes under a served model, labels sent back
show its accuracy falling below the bound, the DriftMonitor reports it and starts the example
training Job (examples/retrain/train.py), which registers a version under @challenger; the
ModelDeployment's rollout validates and canaries it and moves @champion; the monitor's next
run judges the new version back above the bound. A second monitor whose training Job fails
reports that, and repeated breaches start nothing more during a run or its cooldown."""

from __future__ import annotations

import json
import threading
import time
import uuid
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kubernetes import client

from .conftest import OperatorProcess
from .helpers import pod_report, s3_client, wait_for
from .test_drift_monitor import s3_secret
from .test_pods import GROUP, VERSION, service_url, wait_ready
from .test_rollouts import alias, event_reasons

pytestmark = pytest.mark.timeout(1200)
ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(5)


def world(n: int, flipped: bool) -> pd.DataFrame:
    """Two features; the label is a > 0, or after the change a < 0 (same inputs, new truth:
    no data drift for the drift check to see, only the labels tell)."""
    frame = pd.DataFrame(RNG.normal(size=(n, 2)).round(4), columns=["a", "b"])
    truth = frame["a"] < 0 if flipped else frame["a"] > 0
    return frame.assign(label=truth.astype(int))


def register_champion(mlflow_url: str, name: str, train: pd.DataFrame) -> str:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    x = train[["a", "b"]]
    model = LogisticRegression().fit(x, train["label"])
    mlflow.set_tracking_uri(mlflow_url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=name,
                signature=infer_signature(x, model.predict(x)),
                pip_requirements=["scikit-learn"],
            )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", version)
    return version


def flipped_holdout(mlflow_url: str, tmp: Path) -> str:
    """The changed world's truth, logged on a run: what validation scores candidates on."""
    import mlflow

    path = tmp / "holdout.csv"
    world(400, flipped=True).to_csv(path, index=False)
    mlflow.set_tracking_uri(mlflow_url)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(path))
    return f"runs:/{run.info.run_id}/holdout.csv"


class Clients(threading.Thread):
    """Clients of the changed world: each answer's prediction id gets its true label back
    through POST /feedback, a moment later, as a labelling process would send it."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.answers: Counter[str] = Counter()
        self.labels = Counter[str]()

    def run(self) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        rows = world(2000, flipped=True)
        i = 0
        while not self.stop.is_set():
            row = rows.iloc[i % len(rows)]
            i += 1
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=10)
            try:
                body = json.dumps({"features": [[float(row["a"]), float(row["b"])]]})
                conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                doc = json.loads(resp.read())
                if resp.status != 200:
                    self.answers[f"status {resp.status}"] += 1
                    continue
                self.answers[str(doc["model_version"])] += 1
                feedback = json.dumps({"id": doc["prediction_id"], "label": int(row["label"])})
                conn.request("POST", "/feedback", feedback, {"Content-Type": "application/json"})
                kept = json.loads(conn.getresponse().read())
                self.labels["kept" if kept.get("kept") == 1 else "not kept"] += 1
            except (OSError, ValueError, KeyError):
                self.answers["failed"] += 1
            finally:
                conn.close()
            self.stop.wait(0.05)


def monitor(
    custom: Any,
    namespace: str,
    name: str,
    target: str,
    reference: str,
    command: list[str],
    data: str,
) -> None:
    spec = {
        "modelDeploymentRef": {"name": target},
        "schedule": "* * * * *",
        "reference": {"uri": reference},
        "current": {"window": "2m", "minRows": 50},
        "performance": {"metrics": [{"name": "accuracy", "min": 0.85}], "minLabels": 50},
        "onPerformanceBreach": {"retrain": True},
        "retrain": {
            "command": command,
            "configMaps": [{"name": "trainer", "mountPath": "/opt/trainer"}],
            "env": [{"name": "TRAINING_DATA_URI", "value": data}],
            "cooldown": "1h",
        },
    }
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "driftmonitors",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DriftMonitor",
            "metadata": {"name": name},
            "spec": spec,
        },
    )


def test_a_breach_retrains_validates_canaries_and_promotes_and_the_monitor_sees_it_recover(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    operator: OperatorProcess,
    mlflow_url: str,
    s3: dict[str, str],
    tmp_path: Path,
) -> None:
    ns = real_namespace
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    name = f"loop-{uuid.uuid4().hex[:6]}"
    train = world(500, flipped=False)
    v1 = register_champion(mlflow_url, name, train)
    reference = tmp_path / "train.parquet"
    train[["a", "b"]].to_parquet(reference)
    key = f"loop/{name}/train.parquet"
    s3_client(s3).upload_file(str(reference), s3["bucket"], key)
    s3_secret(api_client, ns, s3, pod_services["s3"])
    core.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="trainer"),
            data={"train.py": (ROOT / "examples" / "retrain" / "train.py").read_text()},
        ),
    )
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "modeldeployments",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": {
                "model": {
                    "uri": f"models:/{name}@champion",
                    "trackingUri": pod_services["mlflow_ip"],
                    "credentialsSecretRef": {"name": "s3"},
                },
                "runtime": {
                    "image": real_node["runtime"],
                    "resources": {"requests": {"cpu": "50m"}},
                },
                "predictionLog": {"enabled": True, "redisUrl": pod_services["redis_ip"]},
                "rollout": {
                    "candidate": f"models:/{name}@challenger",
                    "strategy": "Canary",
                    "validation": {
                        "data": flipped_holdout(mlflow_url, tmp_path),
                        "target": "label",
                        "metrics": [{"name": "accuracy", "min": 0.85}],
                    },
                    "steps": [{"weight": 50, "duration": "15s"}],
                    "analysis": {"maxErrorRate": 0.01, "minRequests": 20},
                },
            },
        },
    )
    wait_ready(api_client, ns, name, 240)
    s3_uri = f"s3://{s3['bucket']}/{key}"
    train_cmd = ["python", "/opt/trainer/train.py"]
    kept = f"s3://{s3['bucket']}/loop/{name}/retrained"
    monitor(custom, ns, "quality", name, s3_uri, train_cmd, kept)
    fail = ["python", "-c", "raise SystemExit('no GPU')"]
    monitor(custom, ns, "broken", name, s3_uri, fail, kept)
    clients = Clients(service_url(api_client, ns, name))
    clients.start()
    t0 = time.monotonic()
    timeline: list[tuple[float, str]] = []

    def dm(monitor_name: str) -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "driftmonitors", monitor_name)
        return obj.get("status") or {}

    def md() -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "modeldeployments", name)
        return obj.get("status") or {}

    def mark(what: str) -> None:
        timeline.append((time.monotonic() - t0, what))
        print(f"[{timeline[-1][0]:6.1f}s] {what}")

    try:
        breach = wait_for(
            lambda: (
                (dm("quality").get("lastRun") or {}).get("performance", {}).get("reason")
                == "Breached"
                and dm("quality")
            ),
            300,
            "the breach",
            interval=2,
        )
        perf = breach["lastRun"]["performance"]
        mark(f"breach: {perf['message']} over {perf['labelled']} labelled predictions")
        condition = {c["type"]: c for c in breach["conditions"]}["PerformanceDegraded"]
        assert condition["status"] == "True" and condition["reason"] == "Breached"
        assert perf["modelVersion"] == v1 and perf["metrics"][0]["value"] < 0.85

        retrained = wait_for(
            lambda: (
                (dm("quality").get("retraining") or {}).get("phase") in ("Succeeded", "Failed")
                and dm("quality")["retraining"]
            ),
            300,
            "the retraining run",
            interval=2,
        )
        mark(f"retraining {retrained['phase']}: {retrained['message']}")
        assert retrained["phase"] == "Succeeded", retrained
        v2 = retrained["version"]
        assert alias(mlflow_url, name, "challenger") == v2

        promoted = wait_for(
            lambda: (
                (md().get("rollout") or {}).get("phase") in ("Promoted", "Failed", "RolledBack")
                and md()["rollout"]
            ),
            420,
            "the rollout's end",
            interval=2,
        )
        mark(f"rollout {promoted['phase']}: {promoted.get('message')}")
        assert promoted["phase"] == "Promoted" and promoted["candidateVersion"] == v2
        assert promoted["validation"][0]["value"] >= 0.85
        assert alias(mlflow_url, name, "champion") == v2

        recovered = wait_for(
            lambda: (
                (dm("quality").get("lastRun") or {}).get("performance", {}).get("modelVersion")
                == v2
                and dm("quality")["lastRun"]["performance"]
            ),
            300,
            "a run judging the new version",
            interval=2,
        )
        mark(f"recovered: {recovered['reason']} {recovered['metrics'][0]['value']}")
        assert recovered["reason"] == "WithinThresholds"
        assert recovered["metrics"][0]["value"] >= 0.85

        broken = wait_for(
            lambda: (
                (dm("broken").get("retraining") or {}).get("phase") in ("Succeeded", "Failed")
                and dm("broken")["retraining"]
            ),
            120,
            "the failing retraining run",
            interval=2,
        )
        mark(f"broken trainer: {broken['phase']}: {broken['message']}")
    except AssertionError:
        print(
            json.dumps({"quality": dm("quality"), "broken": dm("broken"), "md": md()}, default=str)[
                :6000
            ]
        )
        print(pod_report(api_client, ns))
        raise
    finally:
        clients.stop.set()
        clients.join(timeout=15)
    print(f"answers by version: {dict(clients.answers)}, labels: {dict(clients.labels)}")
    assert broken["phase"] == "Failed" and "the Job failed" in broken["message"]
    assert broken["message"].endswith("the container said: no GPU")
    assert broken.get("version") is None
    jobs = client.BatchV1Api(api_client).list_namespaced_job(
        ns, label_selector="app.kubernetes.io/component=retrain"
    )
    by_monitor = Counter(j.metadata.labels["modelops.dev/retrain"] for j in jobs.items)
    # Breaches went on while each run ran and during its cooldown: one run each.
    assert by_monitor == Counter({"quality": 1, "broken": 1}), by_monitor

    # Every breach after the one that started a monitor's run was held back (the run in
    # progress, then the cooldown). How many breaches there were depends on how soon the new
    # version took over; a breach's event and its skip's are posted one after the other.
    def skipped_each_later_breach(monitor_name: str) -> bool:
        reasons = event_reasons(api_client, ns, monitor_name)
        print(monitor_name, dict(reasons))
        return (
            reasons["RetrainStarted"] == 1
            and reasons["RetrainSkipped"] == reasons["PerformanceDegraded"] - 1
        )

    for monitor_name in ("quality", "broken"):
        wait_for(
            lambda m=monitor_name: skipped_each_later_breach(m),
            15,
            f"one skip for each of {monitor_name}'s later breaches",
        )
    assert event_reasons(api_client, ns, "broken")["RetrainFailed"] == 1
    assert clients.answers["failed"] == 0 and not any(
        k.startswith("status") for k in clients.answers
    )
    assert clients.labels["not kept"] == 0
    wait_ready(api_client, ns, name, 240)
