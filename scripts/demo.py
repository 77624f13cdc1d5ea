"""`make demo`: the main job end to end on embedded defaults.

The local control plane, MLflow and Redis; a trained model registered as @champion; the
operator; the three example resources applied and Ready; a real prediction from the runtime
started with exactly the environment the operator rendered; a drift check and a
materialization, whose results reach status; then an alias move rolled out.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as `python scripts/demo.py`: the dev-environment package lives at the repo root.
sys.path.insert(0, str(ROOT))
import devenv  # noqa: E402

MODEL_NAME = "fraud"
STATE = devenv.STATE
WORK = STATE / "demo"
FEATURE_REPO = ROOT / "examples" / "feature_repo"
T0 = time.monotonic()


def step(msg: str) -> None:
    print(f"\n==> [{time.monotonic() - T0:5.1f}s] {msg}", flush=True)


def kubectl(*args: str, input: str | None = None, capture: bool = False) -> str:
    done = subprocess.run(
        [str(STATE / "bin" / "kubectl"), "--kubeconfig", str(STATE / "kubeconfig"), *args],
        check=True,
        text=True,
        input=input,
        stdout=subprocess.PIPE if capture else None,
    )
    return done.stdout or ""


def train_and_register(tracking_uri: str, seed: int) -> tuple[str, Any]:
    """A 100-tree random forest on 20 features; its training data is logged on the run
    (mlflow.log_input) as the drift monitor's reference."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("modelops-demo")
    x, y = make_classification(
        n_samples=2000, n_features=20, n_informative=8, n_classes=3, random_state=seed
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(frame, y)
    data = WORK / f"train-{seed}.parquet"
    frame.to_parquet(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's hints about integer class labels
        with mlflow.start_run() as run:
            dataset = mlflow.data.from_pandas(frame, source=str(data), name="train")
            mlflow.log_input(dataset, context="training")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=MODEL_NAME,
                signature=infer_signature(frame, model.predict(frame)),
                input_example=frame.head(2),
                # MLflow 3 saves scikit-learn models with skops, which trusts no tree by default.
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, "champion", version)
    print(f"run {run.info.run_id}: registered models:/{MODEL_NAME}/{version} as @champion")
    return version, frame


def wait_ready(kind: str, name: str, timeout: int = 120) -> None:
    kubectl("wait", "--for=condition=Ready", f"--timeout={timeout}s", f"{kind}/{name}")


def rendered_env(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def serve_locally(services: dict[str, str], train: Any) -> None:
    """The runtime as the Deployment would run it: the operator's rendered environment."""
    deployment = json.loads(kubectl("get", "deployment", "fraud", "-o", "json", capture=True))
    env = {**os.environ, **rendered_env(deployment)}
    port = free_port()
    env.update({"PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "1"})
    shown = {k: v for k, v in rendered_env(deployment).items() if k != "PORT"}
    print(
        "environment rendered by the operator:\n  "
        + "\n  ".join(f"{k}={v}" for k, v in shown.items())
    )
    proc = devenv.Proc(STATE, "runtime")
    proc.stop()
    proc.start([devenv.venv_bin("modelops-runtime"), "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    devenv.wait_http(f"{url}/ready", 120, proc=proc)
    rows = train.sample(3, random_state=1).round(4).values.tolist()
    answer = post(f"{url}/predict", {"features": rows, "return_probabilities": True})
    print(f"POST {url}/predict (3 rows) ->\n  {json.dumps(answer)[:400]}")
    # Traffic for the drift check: what the model "saw", drifted in two columns.
    seen = train.sample(1200, replace=True, random_state=2).copy()
    for column, shift in (("f3", 2.0), ("f7", -2.5), ("f11", 1.5), ("f15", -1.5)):
        seen[column] = seen[column] + shift  # 4 of 20 columns: the 0.2 drift share is reached
    records = seen.to_dict(orient="split")["data"]
    # Small requests: the log samples whole requests (spec.predictionLog.sampleRate).
    for i in range(0, len(records), 2):
        post(f"{url}/predict", {"features": records[i : i + 2]})
    print(f"sent {len(records)} more rows; the runtime logs a sample to Redis for drift checks")
    time.sleep(1.5)  # the prediction log is written in the background


def run_job(
    cronjob: str,
    job: str,
    extra_env: dict[str, str] | None = None,
    paths: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Create a Job from the CronJob, run its command here (simulated nodes run no
    containers), and report the result in the pod's status as a kubelet would."""
    kubectl("delete", "job", job, "--ignore-not-found")
    kubectl("create", "job", f"--from=cronjob/{cronjob}", job)
    cron = json.loads(kubectl("get", "cronjob", cronjob, "-o", "json", capture=True))
    code, message = devenv.run_cronjob_locally(cron, WORK / job, extra_env, paths)
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    print(f"$ modelops-runtime {' '.join(container['args'])}")
    print(f"  -> exit {code}: {message[:300]}")
    for _ in range(100):
        pods = json.loads(
            kubectl("get", "pods", "-l", f"job-name={job}", "-o", "json", capture=True)
        )
        if pods["items"]:
            break
        time.sleep(0.2)
    pod = pods["items"][0]["metadata"]["name"]
    patch = json.dumps(devenv.pod_result_patch(container["name"], code, message))
    kubectl("patch", "pod", pod, "--subresource=status", "--type=merge", "-p", patch)
    return json.loads(message)  # type: ignore[no-any-return]


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    step("Starting the local control plane (built from Go modules on first run: ~8 min)")
    cluster = devenv.cluster_up()
    kubectl("get", "nodes")

    step("Starting MLflow (sqlite store, artifacts through the server) and Redis")
    services = devenv.services_up()
    print(f"MLflow: {services['mlflow_url']}\nRedis:  {services['redis_url']}")

    step(f"Training a 100-tree random forest, registering it as models:/{MODEL_NAME}@champion")
    version, train = train_and_register(services["mlflow_url"], seed=7)

    step("Installing the CRDs and starting the operator")
    kubectl("apply", "-f", str(ROOT / "crds"))
    crds = [f"crd/{p.stem.split('_', 1)[1]}.modelops.dev" for p in (ROOT / "crds").glob("*.yaml")]
    kubectl("wait", "--for=condition=Established", "--timeout=30s", *crds)
    devenv.operator_start(STATE, services["mlflow_url"], services["redis_url"])
    print(f"operator log: {devenv.Proc(STATE, 'operator').logfile}")

    step("Feature repo as a ConfigMap, the online store's address as a Secret")
    sys.path.insert(0, str(FEATURE_REPO))
    from make_data import make_data  # type: ignore[import-not-found]

    customers = WORK / "customers.parquet"
    make_data(customers, 5000, datetime.now(UTC))
    feast_redis = services["redis_url"].removeprefix("redis://").replace("/", ",db=")
    repo_files = [f"--from-file={FEATURE_REPO / n}" for n in ("feature_store.yaml", "features.py")]
    configmap = kubectl(
        "create",
        "configmap",
        "feature-repo",
        *repo_files,
        "--dry-run=client",
        "-o",
        "yaml",
        capture=True,
    )
    kubectl("apply", "-f", "-", input=configmap)
    secret = kubectl(
        "create",
        "secret",
        "generic",
        "feast-online",
        f"--from-literal=REDIS_CONNECTION_STRING={feast_redis}",
        f"--from-literal=FEAST_DATA_PATH={customers}",
        "--dry-run=client",
        "-o",
        "yaml",
        capture=True,
    )
    kubectl("apply", "-f", "-", input=secret)

    step("Applying the three examples: ModelDeployment, DriftMonitor, FeatureMaterialization")
    examples = [
        str(ROOT / "examples" / f"{e}.yaml")
        for e in ("modeldeployment", "driftmonitor", "featurematerialization")
    ]
    # A rerun starts from scratch: last run's results would otherwise show in status.
    kubectl("delete", "--ignore-not-found", "--wait=true", *[f"-f={e}" for e in examples])
    for example in examples:
        kubectl("apply", "-f", example)
    wait_ready("md", "fraud")
    wait_ready("dm", "fraud-drift")
    wait_ready("fm", "customer-features")
    kubectl("get", "modelops")
    kubectl("get", "deploy,svc,hpa,pdb,cronjobs")

    step("A real prediction: the runtime with the environment the operator rendered")
    serve_locally(services, train)

    step("A drift check: the DriftMonitor's job on what the model saw vs. its training data")
    result = run_job("fraud-drift", "fraud-drift-demo")
    kubectl(
        "wait",
        "--for=jsonpath={.status.lastRun.jobName}=fraud-drift-demo",
        "--timeout=60s",
        "dm/fraud-drift",
    )
    kubectl("get", "dm", "fraud-drift")
    print(f"drifted columns: {result.get('driftedColumns')}")

    step("A materialization: the FeatureMaterialization's job into Redis")
    repo = WORK / "feature-repo"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(FEATURE_REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    run_job(
        "customer-features",
        "customer-features-demo",
        extra_env={"REDIS_CONNECTION_STRING": feast_redis, "FEAST_DATA_PATH": str(customers)},
        paths={"/feature-repo": str(repo)},
    )
    kubectl(
        "wait",
        "--for=jsonpath={.status.lastRun.jobName}=customer-features-demo",
        "--timeout=60s",
        "fm/customer-features",
    )
    kubectl("get", "fm", "customer-features")

    step("Moving the alias: a retrained model becomes @champion; the operator rolls it out")
    new_version, _ = train_and_register(services["mlflow_url"], seed=8)
    kubectl(
        "wait",
        f"--for=jsonpath={{.status.model.version}}={new_version}",
        "--timeout=120s",
        "md/fraud",
    )
    wait_ready("md", "fraud")
    kubectl("get", "md", "fraud")
    kubectl("get", "events", "--field-selector", "involvedObject.name=fraud,reason=RolledOut")

    step(f"Done in {time.monotonic() - T0:.0f}s")
    print(
        f"models:/{MODEL_NAME}@champion moved from version {version} to {new_version}, "
        "rolled out.\n"
        "Try next:\n"
        f"  export KUBECONFIG={cluster['kubeconfig']}\n"
        "  .cluster/bin/kubectl get modelops                 # all three kinds\n"
        "  .cluster/bin/kubectl describe md fraud            # conditions and events\n"
        "  .cluster/bin/kubectl explain md.spec.autoscaling  # the API, documented\n"
        "  .cluster/bin/kubectl scale md/fraud --replicas=3\n"
        f"  MLflow UI: {services['mlflow_url']}\n"
        "Stop everything with `make demo-down`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
