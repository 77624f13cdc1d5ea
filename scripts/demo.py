"""`make demo`: the main job end to end, every pod a container on the real node.

The local control plane with its real kubelet node; MLflow, Redis and the S3 store on the host,
published to pods by name; a trained model registered as @champion, its training data in the
bucket; the operator installed by the Helm chart (its image, 2 replicas with peering, its own
ServiceAccount and RBAC); the three example resources applied; predictions through the
ModelDeployment's Service; the DriftMonitor's and FeatureMaterialization's CronJobs running on
their own schedule (every minute here) with results in status; then the feedback loop: the
world changes, labels sent back show accuracy falling, the DriftMonitor retrains
(examples/retrain/train.py), the new version is validated, canaried and promoted, and the
monitor sees accuracy recover. Prints the loop's timeline.

`--cluster current` (`make demo CLUSTER=current`) runs the same flow on the cluster the current
kubeconfig names instead: the images reach it as `make install` sends them (REGISTRY=... or
LOAD=kind|minikube|none), MLflow, Redis and the store still run on this machine and are published
to the pods at HOST_ADDRESS (an address of this machine the cluster's pods reach), and the demo
talks to the Service through the apiserver's service proxy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Run as `python scripts/demo.py`: the dev-environment package lives at the repo root.
sys.path.insert(0, str(ROOT))
import devenv  # noqa: E402

MODEL_NAME = "fraud"
STATE = devenv.STATE
WORK = STATE / "demo"
FEATURE_REPO = ROOT / "examples" / "feature_repo"
CHART = ROOT / "charts" / "modelops"
# The operator and the demo's resources share a namespace, and the chart's namespace scope keeps
# the operator there: a test run reusing this cluster brings its own operator for its namespaces.
NAMESPACE = os.environ.get("DEMO_NAMESPACE", "modelops-demo")
T0 = time.monotonic()
# How the demo reaches the cluster: the local one's kubeconfig, or the current context's
# (main sets these for --cluster current).
KUBECTL = [str(STATE / "bin" / "kubectl"), "--kubeconfig", str(STATE / "kubeconfig")]
HELM = [str(STATE / "bin" / "helm"), "--kubeconfig", str(STATE / "kubeconfig")]
# Set for --cluster current: the kubernetes client the service-proxy requests go through.
PROXY_CLIENT: Any = None


def step(msg: str) -> None:
    print(f"\n==> [{time.monotonic() - T0:5.1f}s] {msg}", flush=True)


def kubectl(*args: str, input: str | None = None, capture: bool = False) -> str:
    done = subprocess.run(
        [*KUBECTL, "-n", NAMESPACE, *args],
        check=True,
        text=True,
        input=input,
        stdout=subprocess.PIPE if capture else None,
    )
    return done.stdout or ""


def helm(*args: str) -> str:
    done = subprocess.run(
        [*HELM, *args],
        check=True,
        text=True,
        stdout=subprocess.PIPE,
    )
    return done.stdout


def s3_client(services: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=services["s3_endpoint"],
        aws_access_key_id=services["s3_access_key"],
        aws_secret_access_key=services["s3_secret_key"],
        region_name=services["s3_region"],
    )


def train_and_register(
    services: dict[str, str], seed: int, alias: str = "champion"
) -> tuple[str, Any, Any]:
    """A 100-tree random forest on 20 features; its training data, in the bucket, is logged on
    the run (mlflow.log_input) as the drift monitor's reference."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    mlflow.set_tracking_uri(services["mlflow_url"])
    mlflow.set_experiment("modelops-demo")
    x, y = make_classification(
        n_samples=2000,
        n_features=20,
        n_informative=8,
        n_classes=3,
        random_state=seed,
        class_sep=2.0,
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(frame, y)
    data = WORK / f"train-{seed}.parquet"
    frame.to_parquet(data)
    key = f"demo/train-{seed}.parquet"
    s3_client(services).upload_file(str(data), services["s3_bucket"], key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's hints about integer class labels
        with mlflow.start_run() as run:
            source = f"s3://{services['s3_bucket']}/{key}"
            dataset = mlflow.data.from_pandas(frame, source=source, name="train")
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
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, alias, version)
    print(f"run {run.info.run_id}: registered models:/{MODEL_NAME}/{version} as @{alias}")
    return version, frame, y


def wait_ready(kind: str, name: str, timeout: int = 180) -> None:
    try:
        kubectl("wait", "--for=condition=Ready", f"--timeout={timeout}s", f"{kind}/{name}")
    except subprocess.CalledProcessError:
        # What a person would look at next: the conditions, the pods, the operator's last words.
        kubectl("get", kind, name, "-o", "jsonpath={.status.conditions}")
        kubectl("get", "pods,events", "-o", "wide")
        kubectl("logs", "deploy/modelops", "--tail=40")
        raise


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON to the Service: straight to its address, or (an /api/ path) through the
    apiserver's service proxy. A refusal raises OSError either way."""
    if url.startswith("/api/"):
        from kubernetes.client.exceptions import ApiException

        from modelops.operator.mlflow_deployments import post_json

        try:
            return json.loads(post_json(PROXY_CLIENT, url, body))  # type: ignore[no-any-return]
        except ApiException as e:
            raise OSError(f"{url}: {e.status} {e.reason}") from e
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def secret(name: str, data: dict[str, str]) -> None:
    literals = [f"--from-literal={k}={v}" for k, v in data.items()]
    manifest = kubectl(
        "create", "secret", "generic", name, *literals, "--dry-run=client", "-o", "yaml",
        capture=True,
    )  # fmt: skip
    kubectl("apply", "-f", "-", input=manifest)


def example(name: str, **changes: Any) -> str:
    """An example resource with the demo's local settings merged into its spec."""
    doc = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
    for path, value in changes.items():
        node = doc["spec"]
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return yaml.safe_dump(doc)


def apply_crds() -> None:
    """The CRDs, applied before the chart (a cluster the tests set up has them already,
    outside any Helm release)."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    peering = helm(
        "template", "modelops", str(CHART), "--show-only", "templates/kopf-peering-crds.yaml"
    )
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=peering)


def demo_values(pods: dict[str, str]) -> list[str]:
    return [
        *("--set", "crds.enabled=false"),
        *("--set", "scope=namespace"),
        *("--set", f"operator.mlflowTrackingUri={pods['mlflow']}"),
        *("--set", f"operator.redisUrl={pods['redis']}"),
        *("--set", "operator.modelPollSeconds=10"),
    ]


def install_operator(pods: dict[str, str]) -> None:
    """The chart with the operator image imported into the node."""
    apply_crds()
    helm(
        "upgrade", "--install", "modelops", str(CHART),
        "-n", NAMESPACE, "--create-namespace", *demo_values(pods),
        "--wait", "--timeout=180s",
    )  # fmt: skip
    kubectl("get", "pods", "-o", "wide")


def install_on_current(pods: dict[str, str]) -> dict[str, str]:
    """The README's install path (scripts/install.sh): the images sent as REGISTRY or LOAD
    say, the chart with the demo's values, `helm test`. Returns the images it installed."""
    apply_crds()
    values = " ".join(demo_values(pods))
    env = {
        **os.environ,
        "MLFLOW_URI": pods["mlflow"],
        "NAMESPACE": NAMESPACE,
        "RELEASE": "modelops",
        "HELM_ARGS": f"{values} {os.environ.get('HELM_ARGS', '')}",
        "PATH": f"{Path(HELM[0]).parent}:{os.environ['PATH']}",
    }
    subprocess.run(["bash", str(ROOT / "scripts" / "install.sh")], env=env, check=True)
    deployment = json.loads(kubectl("get", "deploy", "modelops", "-o", "json", capture=True))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    runtime = {e["name"]: e.get("value") for e in container.get("env", [])}
    return {"operator": container["image"], "runtime": runtime.get("MODELOPS_RUNTIME_IMAGE", "?")}


def service_url(name: str) -> str:
    """The Service's address, or on the current cluster (whose Service addresses this machine
    may not route to) its path on the apiserver's service proxy, which follows the Service
    through rollouts as a port-forward to one pod would not."""
    svc = json.loads(kubectl("get", "service", name, "-o", "json", capture=True))
    port = svc["spec"]["ports"][0]["port"]
    if PROXY_CLIENT is not None:
        return f"/api/v1/namespaces/{NAMESPACE}/services/{name}:{port}/proxy"
    return f"http://{svc['spec']['clusterIP']}:{port}"


def send_traffic(url: str, train: Any) -> None:
    rows = train.sample(3, random_state=1).round(4).values.tolist()
    answer = post(f"{url}/predict", {"features": rows, "return_probabilities": True})
    print(f"POST {url}/predict (3 rows) ->\n  {json.dumps(answer)[:400]}")
    # Traffic for the drift check: what the model "saw", drifted in four of 20 columns.
    seen = train.sample(1200, replace=True, random_state=2).copy()
    for column, shift in (("f3", 2.0), ("f7", -2.5), ("f11", 1.5), ("f15", -1.5)):
        seen[column] = seen[column] + shift
    records = seen.to_dict(orient="split")["data"]
    # Small requests: the log samples whole requests (spec.predictionLog.sampleRate).
    for i in range(0, len(records), 2):
        post(f"{url}/predict", {"features": records[i : i + 2]})
    print(f"sent {len(records)} more rows through the Service; the pods log a sample to Redis")


def wait_for_run(
    kind: str, name: str, after: datetime | None = None, timeout: int = 240
) -> dict[str, Any]:
    """The status of a scheduled run (started after `after`, when given): the CronJob
    controller starts one at each minute."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = json.loads(kubectl("get", kind, name, "-o", "json", capture=True))
        run = (obj.get("status") or {}).get("lastRun")
        started = (run or {}).get("startTime")
        if run and (after is None or (started and datetime.fromisoformat(started) >= after)):
            return run  # type: ignore[no-any-return]
        time.sleep(3)
    kubectl("get", "jobs,pods", "-o", "wide")
    raise TimeoutError(f"no scheduled run of {kind}/{name} reached status in {timeout}s")


class LabellingClients(threading.Thread):
    """Clients of the changed world: every answer's prediction id gets its true label back
    through POST /feedback, as a labelling process would send it."""

    def __init__(self, url: str, rows: Any) -> None:
        super().__init__(daemon=True)
        self.url, self.rows = url, rows
        self.stop = threading.Event()
        self.answers: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()

    def run(self) -> None:
        features = self.rows.drop(columns=["label"]).round(4).values.tolist()
        truth = self.rows["label"].tolist()
        i = 0
        while not self.stop.is_set():
            row, label = features[i % len(features)], int(truth[i % len(truth)])
            i += 1
            try:
                answer = post(f"{self.url}/predict", {"features": [row]})
                self.answers[answer["model_version"]] += 1
                kept = post(f"{self.url}/feedback", {"id": answer["prediction_id"], "label": label})
                # The log samples half the requests: labels of the others are "unknown".
                self.labels["kept" if kept["kept"] else "unknown"] += 1
            except (OSError, KeyError, ValueError):
                self.answers["failed"] += 1
            self.stop.wait(0.04)


def status_of(kind: str, name: str) -> dict[str, Any]:
    obj = json.loads(kubectl("get", kind, name, "-o", "json", capture=True))
    return obj.get("status") or {}  # type: ignore[no-any-return]


def run_loop(stable: str, t_change: float, timeout: float = 900) -> dict[str, Any] | None:
    """Follow the loop from the world's change to the recovered accuracy: the monitor's runs,
    its retraining, the deployment's rollout. The timeline, or None when a step failed."""
    timeline: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    last_line = ""

    def mark(what: str) -> None:
        if what not in timeline:
            timeline[what] = time.monotonic() - t_change
            print(f"[{timeline[what]:6.1f}s] {what}")

    while time.monotonic() < deadline:
        dm, md = status_of("dm", "fraud-drift"), status_of("mdep", "fraud")
        perf = (dm.get("lastRun") or {}).get("performance") or {}
        retraining = dm.get("retraining") or {}
        rollout = md.get("rollout") or {}
        line = f"monitor: {perf.get('reason')} {perf.get('message') or ''}".strip()
        if line != last_line:
            last_line = line
            print(f"    {line[:160]}")
        if perf.get("reason") == "Breached" and perf.get("modelVersion") == stable:
            mark("breach detected (the monitor's run finished)")
        if retraining.get("phase") == "Running":
            mark(f"retraining Job {retraining.get('jobName')} started")
        if retraining.get("phase") == "Failed":
            print(f"retraining failed: {retraining.get('message')}", file=sys.stderr)
            return None
        if retraining.get("phase") == "Succeeded":
            mark(f"new version {retraining['version']} registered as @challenger")
            timeline["version"] = retraining["version"]
        if rollout.get("candidateVersion") == timeline.get("version"):
            phase = rollout.get("phase")
            if phase == "Validating":
                mark("rollout: validating the candidate on the holdout")
            if phase == "Progressing":
                mark(f"rollout: canary at {rollout.get('weight')}% (validation passed)")
            if phase in ("Failed", "RolledBack"):
                print(f"rollout {phase}: {rollout.get('message')}", file=sys.stderr)
                return None
            if phase == "Promoted":
                mark("promoted: the new version serves all traffic")
        version = timeline.get("version")
        if version and perf.get("modelVersion") == version:
            if perf.get("reason") == "WithinThresholds":
                value = (perf.get("metrics") or [{}])[0].get("value")
                mark(f"monitor: version {version} accuracy {value}, within the bound again")
                return timeline
        time.sleep(2)
    print("the loop did not complete in time", file=sys.stderr)
    kubectl("get", "mdep,dm,jobs,pods", "-o", "wide")
    return None


def use_current_cluster() -> str | None:
    """Point kubectl, helm and the service-proxy client at the current kubeconfig context;
    the context's name, or None (with the reason printed) when there is none."""
    global KUBECTL, HELM, PROXY_CLIENT
    from kubernetes import config

    bins = Path(
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "build-control-plane.sh")],
            check=True,
            text=True,
            stdout=subprocess.PIPE,
        ).stdout.split()[-1]
    )
    KUBECTL = [shutil.which("kubectl") or str(bins / "kubectl")]
    HELM = [shutil.which("helm") or str(bins / "helm")]
    context = subprocess.run(
        [*KUBECTL, "config", "current-context"], text=True, capture_output=True
    ).stdout.strip()
    if not context:
        print("no current kubeconfig context: set KUBECONFIG or use-context", file=sys.stderr)
        return None
    PROXY_CLIENT = config.new_client_from_config()
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cluster",
        choices=("local", "current"),
        default="local",
        help="local: start the local control plane and real node; current: the cluster the "
        "current kubeconfig names (needs HOST_ADDRESS, and REGISTRY or LOAD as make install)",
    )
    parser.add_argument(
        "--until",
        choices=("predictions", "end"),
        default="end",
        help="stop after the predictions through the Service, or run the whole loop",
    )
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    current = args.cluster == "current"
    if current:
        host = os.environ.get("HOST_ADDRESS", "")
        if not host:
            print(
                "set HOST_ADDRESS to an address of this machine the cluster's pods reach "
                "(kind: the kind network's gateway; minikube: host.minikube.internal's address)",
                file=sys.stderr,
            )
            return 2
        step("The cluster the current kubeconfig names")
        context = use_current_cluster()
        if context is None:
            return 2
        print(f"context {context}; this machine's services published to pods at {host}")
        kubectl("get", "nodes", "-o", "wide")
    else:
        host = devenv.NODE_IP
        step("Starting the control plane and the real node (built from Go modules on first run)")
        cluster = devenv.cluster_up()
        if not devenv.node_running():
            print("the demo runs its pods on the real node, which needs root", file=sys.stderr)
            return 1
        images = devenv.import_images()
        kubectl("get", "nodes", "-o", "wide")

    step("MLflow (artifacts in the S3 store), Redis and the store, published to pods by name")
    services = devenv.services_up(address=host if current else None)
    pods: dict[str, str] = {}
    for name, url in (
        ("mlflow", services["mlflow_url"]),
        ("redis", services["redis_url"]),
        ("s3", services["s3_endpoint"]),
    ):
        head, _, rest = url.partition("://")
        hostport, _, path = rest.partition("/")
        port = int(hostport.rsplit(":", 1)[1])
        # Another cluster gets them in the demo's namespace: one namespace to delete after.
        where = NAMESPACE if current else devenv.HOST_SERVICES_NAMESPACE
        address = devenv.publish(STATE, name, port, KUBECTL, address=host, namespace=where)
        pods[name] = f"{head}://{address}:{port}" + (f"/{path}" if path else "")
        print(f"{name:6} host {url:32} pods {pods[name]}")

    step(f"Training a 100-tree random forest, registering it as models:/{MODEL_NAME}@champion")
    version, train, labels = train_and_register(services, seed=7)
    import mlflow

    try:
        # A rerun starts from scratch: an earlier run's challenger would start a rollout.
        mlflow.MlflowClient().delete_registered_model_alias(MODEL_NAME, "challenger")
    except mlflow.exceptions.MlflowException:
        pass
    # The world after the change: the same inputs, each class now what used to be the next.
    changed = train.assign(label=(labels + 1) % 3)
    holdout = WORK / "holdout.parquet"
    changed.sample(400, random_state=4).to_parquet(holdout)
    s3_client(services).upload_file(str(holdout), services["s3_bucket"], "demo/holdout.parquet")

    if current:
        step("Installing the operator as `make install` does: the images, the chart, helm test")
        images = install_on_current(pods)
    else:
        step("Installing the operator with the Helm chart: its image, 2 replicas, peering")
        install_operator(pods)

    step("The bucket's keys, the online store and the feature repo for the pods")
    s3_keys = {
        "AWS_ACCESS_KEY_ID": services["s3_access_key"],
        "AWS_SECRET_ACCESS_KEY": services["s3_secret_key"],
        "AWS_DEFAULT_REGION": services["s3_region"],
        # On EKS the pod's role and S3's own endpoint; here the local store.
        "MLFLOW_S3_ENDPOINT_URL": pods["s3"],
        "AWS_ENDPOINT_URL": pods["s3"],
    }
    secret("s3-credentials", s3_keys)
    sys.path.insert(0, str(FEATURE_REPO))
    from make_data import make_data  # type: ignore[import-not-found]

    customers = WORK / "customers.parquet"
    make_data(customers, 5000, datetime.now(UTC))
    s3_client(services).upload_file(str(customers), services["s3_bucket"], "demo/customers.parquet")
    redis_hostport = pods["redis"].removeprefix("redis://").split("/")[0]
    secret(
        "feast-online",
        {
            "REDIS_CONNECTION_STRING": f"{redis_hostport},db=0",
            "FEAST_DATA_PATH": f"s3://{services['s3_bucket']}/demo/customers.parquet",
            **s3_keys,
        },
    )
    repo_files = [f"--from-file={FEATURE_REPO / n}" for n in ("feature_store.yaml", "features.py")]
    configmap = kubectl(
        "create", "configmap", "feature-repo", *repo_files, "--dry-run=client", "-o", "yaml",
        capture=True,
    )  # fmt: skip
    kubectl("apply", "-f", "-", input=configmap)
    script = ROOT / "examples" / "retrain" / "train.py"
    trainer = kubectl(
        "create", "configmap", "trainer", f"--from-file={script}",
        "--dry-run=client", "-o", "yaml", capture=True,
    )  # fmt: skip
    kubectl("apply", "-f", "-", input=trainer)

    step("Applying the three examples (schedules every minute for the demo)")
    # A rerun starts from scratch: last run's results would otherwise show in status.
    kubectl(
        "delete", "--ignore-not-found", "--wait=true",
        "mdep/fraud", "dm/fraud-drift", "fm/customer-features",
    )  # fmt: skip
    manifests = [
        example(
            "modeldeployment",
            **{
                "model.credentialsSecretRef": {"name": "s3-credentials"},
                "rollout.validation.data": f"s3://{services['s3_bucket']}/demo/holdout.parquet",
            },
        ),
        example(
            "driftmonitor",
            schedule="* * * * *",
            **{
                "retrain.env": [
                    {
                        "name": "TRAINING_DATA_URI",
                        "value": f"s3://{services['s3_bucket']}/demo/retrained",
                    }
                ]
            },
        ),
        example("featurematerialization", schedule="* * * * *"),
    ]
    t_apply = time.monotonic()
    kubectl("apply", "-f", "-", input="---\n".join(manifests))
    wait_ready("mdep", "fraud")
    print(
        f"ModelDeployment fraud Ready with real pods {time.monotonic() - t_apply:.1f}s after apply"
    )
    kubectl("get", "modelops")
    kubectl("get", "deploy,svc,hpa,pdb,cronjobs")
    kubectl("get", "pods", "-o", "wide")

    step("Predictions through the ModelDeployment's Service")
    send_traffic(service_url("fraud"), train)
    # metav1.Time has second precision.
    sent = datetime.now(UTC).replace(microsecond=0)
    if args.until == "predictions":
        step(f"Stopped after the predictions (--until predictions) in {time.monotonic() - T0:.0f}s")
        return 0

    step("The CronJobs' own scheduled runs: a drift check and a materialization")
    # A run that started before the traffic was logged would find no rows.
    drift = wait_for_run("dm", "fraud-drift", after=sent)
    print(f"drift run {drift['jobName']}: drifted columns {drift.get('driftedColumns')}")
    if drift.get("error"):
        print(f"drift run failed: {drift['error']}", file=sys.stderr)
        return 1
    materialized = wait_for_run("fm", "customer-features")
    print(f"materialization {materialized['jobName']}: error={materialized.get('error')}")
    if materialized.get("error"):
        return 1
    kubectl("get", "dm,fm")

    step("The feedback loop: the world changes, labels come back, the monitor retrains")
    url = service_url("fraud")
    # Four clients: one alone, waiting on each answer while the jobs' pods share the two
    # cores, labels too few predictions before the first breach starts a retraining (it needs
    # 100 in its window).
    clients = [LabellingClients(url, changed) for _ in range(4)]
    for c in clients:
        c.start()
    t_change = time.monotonic()
    try:
        timeline = run_loop(version, t_change)
    finally:
        for c in clients:
            c.stop.set()
        for c in clients:
            c.join(timeout=10)
    answers = sum((c.answers for c in clients), Counter())
    labels = sum((c.labels for c in clients), Counter())
    print(f"answers by version: {dict(answers)}; labels: {dict(labels)}")
    if timeline is None:
        return 1
    new_version = timeline.pop("version")
    print("\nThe loop's timeline (seconds after the world changed):")
    for what, at in timeline.items():
        print(f"  {at:6.1f}s  {what}")
    detected = timeline["breach detected (the monitor's run finished)"]
    serving = timeline["promoted: the new version serves all traffic"]
    print(f"breach detected -> new version serving: {serving - detected:.0f}s")
    wait_ready("mdep", "fraud", timeout=300)
    kubectl("get", "mdep,dm")
    kubectl(
        "get", "events", "--sort-by=.lastTimestamp",
        "--field-selector", "involvedObject.name=fraud-drift",
        "-o", "custom-columns=REASON:.reason,MESSAGE:.message",
    )  # fmt: skip
    champion = mlflow.MlflowClient().get_model_version_by_alias(MODEL_NAME, "champion").version
    print(f"models:/{MODEL_NAME}@champion now names version {champion}")

    step(f"Done in {time.monotonic() - T0:.0f}s")
    print(
        f"models:/{MODEL_NAME}@champion moved from version {version} to {new_version}, retrained "
        f"on labelled traffic, validated and canaried. Images: {images['operator']}, "
        f"{images['runtime']}."
    )
    if current:
        print(
            "Try next:\n"
            f"  kubectl -n {NAMESPACE} get modelops\n"
            f"  kubectl -n {NAMESPACE} describe mdep fraud\n"
            f"  MLflow UI: {services['mlflow_url']}\n"
            f"Remove it: helm uninstall modelops -n {NAMESPACE}; kubectl delete namespace "
            f"{NAMESPACE}; make services-down"
        )
        return 0
    print(
        "Try next:\n"
        f"  export KUBECONFIG={cluster['kubeconfig']}\n"
        f"  .cluster/bin/kubectl -n {NAMESPACE} get modelops       # all three kinds\n"
        f"  .cluster/bin/kubectl -n {NAMESPACE} describe mdep fraud  # conditions and events\n"
        f"  .cluster/bin/kubectl -n {NAMESPACE} logs deploy/modelops\n"
        "  .cluster/bin/kubectl explain mdep.spec.autoscaling        # the API, documented\n"
        f"  MLflow UI: {services['mlflow_url']}\n"
        "Stop everything with `make demo-down`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
