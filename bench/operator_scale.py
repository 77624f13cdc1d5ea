"""Apply N ModelDeployments on the local control plane and time them to Ready; report the
operator's RSS. Needs `make demo` (control plane, MLflow with models:/fraud@champion, operator).

    .venv/bin/python bench/operator_scale.py --count 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/operator_scale.py`: the dev-environment package lives at the repo root.
sys.path.insert(0, str(ROOT))
import devenv  # noqa: E402

STATE = devenv.STATE


def kubectl(*args: str, input: str | None = None) -> str:
    return subprocess.run(
        [str(STATE / "bin" / "kubectl"), "--kubeconfig", str(STATE / "kubeconfig"), *args],
        check=True,
        capture_output=True,
        text=True,
        input=input,
    ).stdout


def operator_rss_mib() -> float:
    # Through the pid file `make demo` wrote, checked against the executable like `make down`.
    pid = devenv.Proc(STATE, "operator").pid()
    if pid is None:
        raise RuntimeError("the demo operator is not running (make demo)")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def ready_count(namespace: str) -> int:
    items = json.loads(kubectl("get", "md", "-n", namespace, "-o", "json"))["items"]
    n = 0
    for md in items:
        st = md.get("status") or {}
        conds = {c["type"]: c["status"] for c in st.get("conditions", [])}
        if (
            conds.get("Ready") == "True"
            and st.get("observedGeneration") == md["metadata"]["generation"]
        ):
            n += 1
    return n


def run(count: int, namespace: str) -> tuple[float, float]:
    kubectl("create", "namespace", namespace)
    docs = [
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": f"fraud-{i:03d}", "namespace": namespace},
            "spec": {"model": {"uri": "models:/fraud@champion"}, "replicas": 1},
        }
        for i in range(count)
    ]
    start = time.monotonic()
    kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in docs))
    while ready_count(namespace) < count:
        if time.monotonic() - start > 600:
            raise TimeoutError(f"only {ready_count(namespace)}/{count} Ready after 600 s")
        time.sleep(0.5)
    elapsed = time.monotonic() - start
    time.sleep(2)
    return elapsed, operator_rss_mib()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, nargs="+", default=[1, 100])
    args = parser.parse_args()
    print(f"operator RSS before: {operator_rss_mib():.0f} MiB")
    print(f"{'count':>6} {'apply->all Ready (s)':>22} {'operator RSS (MiB)':>20}")
    for count in args.count:
        ns = f"scale-{count}-{int(time.time())}"
        try:
            elapsed, rss = run(count, ns)
            print(f"{count:>6} {elapsed:>22.1f} {rss:>20.0f}", flush=True)
        finally:
            kubectl("delete", "namespace", ns, "--wait=false")
    return 0


if __name__ == "__main__":
    sys.exit(main())
