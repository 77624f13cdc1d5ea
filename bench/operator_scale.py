"""The operator at scale, on the kwok nodes: N ModelDeployments applied at once, time to all
Ready, what the operator asks of the apiserver and of MLflow at rest, what a child's status-only
change costs, and a restart with N in place.

Request counts come from the apiserver's audit log (the operator runs as its own user, which
the local control plane's audit policy records in full: devenv.cluster), MLflow calls from a
counting proxy in front of MLflow. Starts what it needs (control plane, MLflow, the operator).

    .venv/bin/python bench/operator_scale.py --count 1000 --json build/scale.json
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the dev-environment package and the tests' helpers
import devenv  # noqa: E402

STATE = devenv.STATE / "scale"
PREFIX = "scale-"
PEER_PREFIX = "peer-"
MODEL = "scale"
# Watches are long-lived: counted as requests when (re)opened, which at rest they are not.
LONG_RUNNING = {"watch"}
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


class CountingProxy:
    """MLflow behind a proxy that counts each request by method and path."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.calls: list[tuple[float, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                proxy.calls.append((time.time(), f"{self.command} {self.path.split('?')[0]}"))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def between(self, start: float, end: float) -> list[str]:
        return [path for t, path in self.calls if start <= t < end]


def kubectl(meta: dict[str, str], *args: str, input: str | None = None) -> str:
    return subprocess.run(
        [str(Path(meta["bin"]) / "kubectl"), "--kubeconfig", meta["kubeconfig"], *args],
        check=True,
        capture_output=True,
        text=True,
        input=input,
    ).stdout


def audit_entries(meta: dict[str, str], start: float, end: float) -> list[dict[str, Any]]:
    """The operator's requests received in [start, end), from the audit log and its backup."""
    return devenv.operator_requests(Path(meta["audit_log"]), start, end)


def describe(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for e in entries:
        ref = e.get("objectRef", {})
        sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
        counts[f"{e['verb']} {ref.get('resource', e.get('requestURI', '?'))}{sub}"] += 1
    return dict(counts.most_common())


class Operator:
    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env, self.logdir, self.proc, self.starts = env, logdir, None, 0

    def start(self) -> None:
        self.starts += 1
        out = open(self.logdir / f"operator-{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            [devenv.venv_bin("modelops-operator"), "--standalone", f"--namespace={PREFIX}*"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def started(self, timeout: float) -> None:
        """Wait until kopf logged its last startup activity (its watches open next)."""
        log = self.logdir / f"operator-{self.starts}.log"
        deadline = time.monotonic() + timeout
        while "Activity 'warm_registry_client' succeeded" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the operator did not start within {timeout:.0f} s")
            time.sleep(0.5)

    def resumed(self, count: int, timeout: float) -> None:
        """Wait until kopf logged the resume of `count` objects (its resume handlers done)."""
        log = self.logdir / f"operator-{self.starts}.log"
        deadline = time.monotonic() + timeout
        while log.read_text(errors="replace").count("Resuming is processed") < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not all {count} resumed within {timeout:.0f} s")
            time.sleep(0.5)

    def rss_mib(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def model_deployments(meta: dict[str, str], namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        kubectl(meta, "get", "modeldeployments", "-n", namespace, "-o", "json")
    )["items"]
    return items


def ready(md: dict[str, Any]) -> bool:
    st = md.get("status") or {}
    conds = {c["type"]: c["status"] for c in st.get("conditions", [])}
    return conds.get("Ready") == "True" and st.get("observedGeneration") == md["metadata"].get(
        "generation"
    )


def versions(meta: dict[str, str], namespace: str) -> dict[str, str]:
    """resourceVersion of every object the operator owns or serves in the namespace."""
    out = {}
    for kind in ("modeldeployments", "deployments", "services", "configmaps", "pdb"):
        for item in json.loads(kubectl(meta, "get", kind, "-n", namespace, "-o", "json"))["items"]:
            out[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return out


def quiet_since(meta: dict[str, str], start: float, quiet: float, timeout: float) -> float:
    """Seconds from `start` to the operator's last request before `quiet` seconds without
    one (watches aside): when it settled."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(2)
        entries = [
            e for e in audit_entries(meta, start, time.time() + 1) if e["verb"] not in LONG_RUNNING
        ]
        last = max(
            (datetime.fromisoformat(e["requestReceivedTimestamp"]).timestamp() for e in entries),
            default=start,
        )
        if time.time() - last >= quiet:
            return last - start
    raise TimeoutError(f"the operator did not settle within {timeout:.0f} s")


def wait_all_ready(meta: dict[str, str], namespace: str, count: int, timeout: float) -> None:
    """Through a watch: polling a list of a thousand objects would load the apiserver being
    measured more than the operator does."""
    from kubernetes import client, config, watch

    api = client.CustomObjectsApi(config.new_client_from_config(config_file=meta["kubeconfig"]))
    deadline = time.monotonic() + timeout
    states: dict[str, bool] = {}
    while time.monotonic() < deadline:
        stream = watch.Watch()
        for event in stream.stream(
            api.list_namespaced_custom_object,
            "modelops.dev",
            "v1alpha1",
            namespace,
            "modeldeployments",
            timeout_seconds=max(1, int(deadline - time.monotonic())),
        ):
            obj = event["object"]
            states[obj["metadata"]["name"]] = event["type"] != "DELETED" and ready(obj)
            if sum(states.values()) >= count:
                stream.stop()
                return
    raise TimeoutError(f"{sum(states.values())}/{count} Ready after {timeout:.0f} s")


def clear_previous(meta: dict[str, str]) -> None:
    """Earlier runs' namespaces, gone before this one starts: their deletion is work for the
    apiserver and the controllers that would count against this run."""
    old = [
        n
        for n in kubectl(meta, "get", "namespaces", "-o", "name").split()
        if n.startswith((f"namespace/{PREFIX}", f"namespace/{PEER_PREFIX}"))
    ]
    if old:
        kubectl(meta, "delete", "--timeout=600s", *old)


def environment(count: int) -> Iterator[tuple[dict[str, str], str, Operator, CountingProxy]]:
    os.environ.setdefault("MODELOPS_REAL_NODE", "0")  # kwok nodes only
    meta = devenv.cluster_up()
    if "operator_kubeconfig" not in meta:
        raise SystemExit("the running control plane predates the operator's identity: make down")
    clear_previous(meta)
    services = devenv.services_up(STATE)
    kubectl(meta, "apply", "-f", str(ROOT / "crds"))
    kubectl(meta, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    from tests.integration.helpers import register_model

    register_model(services["mlflow_url"], MODEL)
    proxy = CountingProxy(services["mlflow_url"])
    logdir = STATE / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    op = Operator(
        {
            **os.environ,
            "KUBECONFIG": meta["operator_kubeconfig"],
            "MODELOPS_MLFLOW_TRACKING_URI": proxy.url,
            "MODELOPS_METRICS_PORT": str(devenv.free_port()),
            # As Dockerfile.operator sets it: glibc's per-thread arenas would keep the peak of
            # the client threads' JSON parsing as resident memory.
            "MALLOC_ARENA_MAX": "2",
        },
        logdir,
    )
    namespace = f"{PREFIX}{count}-{int(time.time())}"
    kubectl(
        meta,
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": namespace,
                    "annotations": devenv.SIMULATED_NAMESPACE_ANNOTATIONS,
                },
            }
        ),
    )
    op.start()
    try:
        yield meta, namespace, op, proxy
    finally:
        op.stop()
        kubectl(meta, "delete", "namespace", namespace, "--wait=false")


def peer(meta: dict[str, str], source: str, count: int) -> float:
    """The floor this control plane sets: the operator's own children (Deployment and Service
    per ModelDeployment), copied to a namespace of their own and created with 16 clients at
    once, no operator involved. Seconds until every Deployment is available."""
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=meta["kubeconfig"])
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    target = f"{PEER_PREFIX}{int(time.time())}"  # not served: the operator never sees it
    core.create_namespace(
        {
            "metadata": {
                "name": target,
                "annotations": devenv.SIMULATED_NAMESPACE_ANNOTATIONS,
            }
        }
    )

    def clean(obj: dict[str, Any]) -> dict[str, Any]:
        m = obj["metadata"]
        spec = {k: v for k, v in obj["spec"].items() if k not in ("clusterIP", "clusterIPs")}
        meta_ = {"name": m["name"], "labels": m.get("labels", {})}
        return {"metadata": meta_, "spec": spec}

    deployments = [
        clean(d)
        for d in json.loads(kubectl(meta, "get", "deployments", "-n", source, "-o", "json"))[
            "items"
        ]
    ]
    services = [
        clean(d)
        for d in json.loads(kubectl(meta, "get", "services", "-n", source, "-o", "json"))["items"]
    ]
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda d: apps.create_namespaced_deployment(target, d), deployments))
        list(pool.map(lambda s: core.create_namespaced_service(target, s), services))
    deadline = start + 900
    while time.monotonic() < deadline:
        items = apps.list_namespaced_deployment(target).items
        if sum((d.status.available_replicas or 0) >= 1 for d in items) >= count:
            break
        time.sleep(2)
    elapsed = time.monotonic() - start
    core.delete_namespace(target)
    return elapsed


def run(count: int, rest: float) -> dict[str, Any]:
    figures: dict[str, Any] = {"count": count}
    env = environment(count)
    meta, namespace, op, proxy = next(env)
    try:
        op.started(120)
        time.sleep(5)  # the operator's watches open
        # Half follow an alias (polled), half pin a version (never asked about again).
        docs = [
            {
                "apiVersion": "modelops.dev/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": f"m-{i:04d}", "namespace": namespace},
                "spec": {
                    "model": {
                        "uri": f"models:/{MODEL}@champion" if i % 2 else f"models:/{MODEL}/1"
                    },
                    "replicas": 1,
                },
            }
            for i in range(count)
        ]
        start = time.monotonic()
        kubectl(
            meta, "apply", "--server-side", "-f", "-", input="\n---\n".join(map(json.dumps, docs))
        )
        figures["apply_seconds"] = round(time.monotonic() - start, 1)
        wait_all_ready(meta, namespace, count, 900)
        figures["ready_seconds"] = round(time.monotonic() - start, 1)
        figures["rss_mib_ready"] = round(op.rss_mib())
        print(f"{count} Ready in {figures['ready_seconds']} s, RSS {figures['rss_mib_ready']} MiB")
        figures["peer_available_seconds"] = round(peer(meta, namespace, count), 1)
        figures["ready_vs_peer"] = round(
            figures["ready_seconds"] / figures["peer_available_seconds"], 2
        )
        print(f"the same children without the operator: {figures['peer_available_seconds']} s")

        # At rest: nothing changes for `rest` seconds (at least one poll interval).
        quiet_since(meta, time.time() - 1, quiet=5, timeout=300)
        t0 = time.time()
        time.sleep(rest)
        t1 = time.time()
        entries = audit_entries(meta, t0, t1)
        calls = proxy.between(t0, t1)
        figures["rest_seconds"] = round(t1 - t0)
        figures["rest_apiserver_rps"] = round(len(entries) / (t1 - t0), 2)
        figures["rest_apiserver_requests"] = describe(entries)
        figures["rest_mlflow_calls"] = len(calls)
        figures["rest_mlflow_by_path"] = dict(collections.Counter(calls).most_common())
        figures["rss_mib_rest"] = round(op.rss_mib())
        print(f"at rest: {figures['rest_apiserver_rps']} req/s, {len(calls)} MLflow calls")

        # A child's status-only change: pods replaced under 50 Deployments (their status goes
        # unavailable, then available again).
        t0 = time.time()
        pods = [
            p["metadata"]["name"]
            for p in json.loads(kubectl(meta, "get", "pods", "-n", namespace, "-o", "json"))[
                "items"
            ]
        ][:50]
        kubectl(meta, "delete", "pod", "-n", namespace, "--wait=false", *pods)
        wait_all_ready(meta, namespace, count, 300)
        quiet_since(meta, t0, quiet=5, timeout=300)
        t1 = time.time()
        entries = audit_entries(meta, t0, t1)
        child_writes = [
            e
            for e in entries
            if e["verb"] in WRITES
            and e.get("objectRef", {}).get("resource") != "events"
            and e.get("objectRef", {}).get("subresource") != "status"
        ]
        figures["status_change_requests"] = describe(entries)
        figures["status_change_child_writes"] = len(child_writes)
        print(f"50 pods replaced: {len(entries)} requests, {len(child_writes)} child writes")

        # A restart with `count` in place.
        before = versions(meta, namespace)
        op.stop()
        t0 = time.time()
        op.start()
        op.resumed(count, 600)
        resumed = time.time() - t0
        # Settled: every resume handler done and then no request for 10 s (watches aside).
        settled = max(resumed, quiet_since(meta, t0, quiet=10, timeout=600))
        entries = audit_entries(meta, t0, t0 + settled + 1)
        calls = proxy.between(t0, t0 + settled + 1)
        figures["restart_mlflow_calls"] = len(calls)
        after = versions(meta, namespace)
        figures["restart_settle_seconds"] = round(settled, 1)
        figures["restart_requests"] = describe(entries)
        figures["restart_writes"] = sum(
            1
            for e in entries
            if e["verb"] in WRITES and e.get("objectRef", {}).get("resource") != "events"
        )
        figures["restart_rewritten"] = sorted(k for k in before if after.get(k) != before[k])
        figures["rss_mib_restart"] = round(op.rss_mib())
        print(
            f"restart: settled in {settled:.1f} s, {figures['restart_writes']} writes, "
            f"{len(figures['restart_rewritten'])} objects rewritten"
        )
    finally:
        env.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rest", type=float, default=130.0, help="seconds at rest measured")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    figures = run(args.count, args.rest)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
