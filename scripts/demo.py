"""`make demo`: the main job end to end on embedded defaults.

Brings up the local control plane, MLflow and Redis; trains a demo classifier and registers
it in MLflow under the alias `champion`; prints what it did and how to look.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("devenv", ROOT / "scripts" / "devenv.py")
assert spec and spec.loader
devenv = importlib.util.module_from_spec(spec)
sys.modules["devenv"] = devenv
spec.loader.exec_module(devenv)

MODEL_NAME = os.environ.get("DEMO_MODEL_NAME", "fraud")


def step(msg: str) -> None:
    print(f"\n==> {msg}", flush=True)


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True)


def train_and_register(tracking_uri: str, seed: int = 7) -> str:
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
    with mlflow.start_run() as run:
        # The training data recorded on the run is the default drift reference later on.
        mlflow.log_input(mlflow.data.from_pandas(frame.assign(target=y), name="train"), "training")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=MODEL_NAME,
            signature=infer_signature(frame, model.predict(frame)),
            input_example=frame.head(2),
            # MLflow 3 saves scikit-learn models with skops, which trusts no tree by default.
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        mlflow.log_metric("train_accuracy", float(model.score(frame, y)))
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(MODEL_NAME, "champion", version)
    print(f"run {run.info.run_id}: registered models:/{MODEL_NAME}/{version} as @champion")
    return version


def main() -> int:
    step("Starting the local control plane (built from Go modules on first run)")
    cluster = devenv.cluster_up()
    kubectl = [str(ROOT / ".cluster" / "bin" / "kubectl"), "--kubeconfig", cluster["kubeconfig"]]
    run([*kubectl, "get", "nodes", "-o", "wide"])

    step("Starting MLflow (sqlite store) and Redis")
    services = devenv.services_up()
    print(f"MLflow: {services['mlflow_url']}\nRedis:  {services['redis_url']}")

    step(f"Training a 100-tree random forest and registering it as models:/{MODEL_NAME}@champion")
    version = train_and_register(services["mlflow_url"])

    step("Installing the CRDs and starting the operator")
    run([*kubectl, "apply", "-f", str(ROOT / "crds")])
    run([*kubectl, "wait", "--for=condition=Established", "crd/modeldeployments.modelops.dev"])
    devenv.operator_start(devenv.STATE, services["mlflow_url"], services["redis_url"])
    print(f"operator log: {devenv.Proc(devenv.STATE, 'operator').logfile}")

    step("Applying examples/modeldeployment.yaml (models:/fraud@champion, 2-10 replicas)")
    run([*kubectl, "apply", "-f", str(ROOT / "examples" / "modeldeployment.yaml")])
    run([*kubectl, "wait", "--for=condition=Ready", "--timeout=120s", "md/fraud"])
    run([*kubectl, "get", "md", "-o", "wide"])
    run([*kubectl, "get", "deploy,svc,hpa,pdb,pods", "-l", "app.kubernetes.io/instance=fraud"])

    step("Moving the alias: registering a retrained model as the new @champion")
    new_version = train_and_register(services["mlflow_url"], seed=8)
    run(
        [
            *kubectl,
            "wait",
            f"--for=jsonpath={{.status.model.version}}={new_version}",
            "--timeout=120s",
            "md/fraud",
        ]
    )
    run([*kubectl, "wait", "--for=condition=Ready", "--timeout=120s", "md/fraud"])
    run([*kubectl, "get", "md", "fraud"])
    run(
        [
            *kubectl,
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=fraud,reason=RolledOut",
        ]
    )

    step("Done")
    print(
        f"models:/{MODEL_NAME}@champion moved from version {version} to {new_version}; "
        "the operator rolled it out.\n"
        f"  export KUBECONFIG={cluster['kubeconfig']}\n"
        "  .cluster/bin/kubectl get md\n"
        "  .cluster/bin/kubectl explain md.spec.autoscaling\n"
        f"  MLflow UI: {services['mlflow_url']}\n"
        "Stop everything with `make down`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
