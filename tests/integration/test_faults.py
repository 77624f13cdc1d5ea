"""Faults under load, short versions: while a load generator runs through a ModelDeployment's
Service on the real node, one part of the cluster restarts. Every request's outcome is
counted, and afterwards the cluster must still act on a change (the operator reconnected, the
node still starts pods). `make reliability` reports the long versions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from kubernetes import client

import devenv

from . import test_rollouts as rollouts
from .conftest import OperatorProcess
from .helpers import DROPPED, WRITTEN, pod_pids, register_model, wait_for
from .load import Load, Outcome
from .runtime_helpers import log_threshold_model
from .test_chart import chart_operator, leader_pod
from .test_drift_monitor import drifting_deployment, last_run
from .test_pods import GROUP, PLURAL, ROW, VERSION, deploy, md, service_url, wait_ready
from .test_runtime_process import serving
from .test_runtime_redis import metric

# `make reliability` runs these longer and faster, and collects their figures.
RATE = float(os.environ.get("MODELOPS_FAULT_RATE", "100"))
AFTER = float(os.environ.get("MODELOPS_FAULT_AFTER_SECONDS", "10"))
REDIS_RATE = float(os.environ.get("MODELOPS_FAULT_REDIS_RATE", str(RATE)))
pytestmark = pytest.mark.timeout(480 + 4 * AFTER)


@dataclass(frozen=True)
class Served:
    namespace: str
    name: str
    url: str


@pytest.fixture
def served(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    operator: OperatorProcess,
) -> Iterator[Served]:
    """A registered model served Ready by two pods on the real node. Afterwards the cluster
    must be whole again: a fault test that failed half way says so here, not in a later
    test's timeout."""
    name = f"f-{uuid.uuid4().hex[:6]}"
    register_model(mlflow_url, name)
    deploy(
        api_client,
        real_namespace,
        name,
        real_node["runtime"],
        pod_services["mlflow_ip"],
        replicas=2,
    )
    wait_ready(api_client, real_namespace, name, 240)
    yield Served(real_namespace, name, service_url(api_client, real_namespace, name))
    assert devenv.cluster_running(), "a control plane component is down after the fault"
    assert devenv.node_running(), "a node process is down after the fault"


def containers(api_client: Any, served: Served) -> dict[str, tuple[int, str | None]]:
    """Each live pod of the deployment: its container's restarts and id (a container
    replaced, whether or not the kubelet counted it yet)."""
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        served.namespace, label_selector=f"app.kubernetes.io/instance={served.name}"
    )
    return {
        p.metadata.name: (
            sum(s.restart_count for s in p.status.container_statuses or []),
            ",".join(s.container_id or "" for s in p.status.container_statuses or []) or None,
        )
        for p in pods.items
        if p.metadata.deletion_timestamp is None
    }


def answered(ip: str) -> float:
    """How many /predict requests a pod answered 200 (its own /metrics)."""
    text = httpx.get(f"http://{ip}:8080/metrics", timeout=3).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("modelops_runtime_requests_total{")
        and 'endpoint="/predict"' in line
        and 'code="200"' in line
    )


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, dict[str, Any]]]:
    """Each fault's figures, written to MODELOPS_FAULTS_OUT (for the report) when it is set."""
    found: dict[str, dict[str, Any]] = {}
    yield found
    if os.environ.get("MODELOPS_FAULTS_OUT"):
        Path(os.environ["MODELOPS_FAULTS_OUT"]).write_text(json.dumps(found, indent=2))


def counted(out: Outcome, **more: Any) -> dict[str, Any]:
    return {
        "sent": out.sent,
        "rate": round(out.rate),
        "non_2xx": sum(out.statuses.values()),
        "connection_errors": sum(out.errors.values()),
        **more,
    }


def under_load(served: Served, fault: Callable[[], float]) -> tuple[Outcome, float]:
    """Requests at RATE through the Service from 3 s before `fault` until AFTER seconds after
    it returns (what it was away, in seconds)."""
    with Load(f"{served.url}/predict", json.dumps(ROW).encode(), rate=RATE) as load:
        time.sleep(3)
        away = fault()
        time.sleep(AFTER)
    return load.outcome, away


def scale_to_three(api_client: Any, served: Served) -> None:
    """A change after the fault is acted on: the operator sees it, the node starts the pod."""
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        GROUP, VERSION, served.namespace, PLURAL, served.name, {"spec": {"replicas": 3}}
    )

    def converged() -> bool:
        obj = md(api_client, served.namespace, served.name)
        status = obj.get("status", {})
        return (
            status.get("observedGeneration") == obj["metadata"]["generation"]
            and status.get("readyReplicas") == 3
        )

    wait_for(converged, 180, f"{served.name} scaled to 3 ready replicas", interval=1)


def child_restored(api_client: Any, served: Served) -> None:
    """The operator's watches came back: a settled ModelDeployment's periodic pass does not
    look at its children, so only a watch event restores a deleted one within the minute."""
    policy = client.PolicyV1Api(api_client)
    uid = policy.read_namespaced_pod_disruption_budget(served.name, served.namespace).metadata.uid

    def back() -> bool:
        try:
            pdb = policy.read_namespaced_pod_disruption_budget(served.name, served.namespace)
        except client.ApiException as e:
            if e.status == 404:
                return False
            raise
        return bool(pdb.metadata.uid != uid)

    policy.delete_namespaced_pod_disruption_budget(served.name, served.namespace)
    wait_for(back, 60, f"the deleted PodDisruptionBudget of {served.name} restored", interval=1)


def report(component: str, out: Outcome, away: float) -> str:
    return (
        f"{component} restarted under load ({away:.1f}s away): {out.sent} requests at "
        f"{out.rate:.0f}/s, {out.failed} failed ({dict(out.statuses)} {dict(out.errors)})"
    )


@pytest.mark.parametrize("component", ["kubelet", "containerd"])
def test_running_pods_keep_serving_through_a_restart_of_the(
    component: str, api_client: Any, served: Served, figures: dict[str, dict[str, Any]]
) -> None:
    before = containers(api_client, served)
    out, away = under_load(served, lambda: devenv.restart(component))
    print(report(component, out, away))
    figures[component] = counted(out, away_seconds=round(away, 1), held=False)
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    assert containers(api_client, served) == before, "the same pods, no container replaced"
    t0 = time.monotonic()
    scale_to_three(api_client, served)
    figures[component] |= {"converged_seconds": round(time.monotonic() - t0, 1), "held": True}


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_serving_is_untouched_and_the_operator_converges_after_a_restart_of_the(
    component: str,
    api_client: Any,
    served: Served,
    operator: OperatorProcess,
    figures: dict[str, dict[str, Any]],
) -> None:
    out, away = under_load(served, lambda: devenv.restart(component))
    print(report(component, out, away))
    figures[component] = counted(out, away_seconds=round(away, 1), held=False)
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    assert operator.proc is not None and operator.proc.poll() is None, "the operator still runs"
    t0 = time.monotonic()
    scale_to_three(api_client, served)
    figures[component]["converged_seconds"] = round(time.monotonic() - t0, 1)
    child_restored(api_client, served)
    figures[component]["held"] = True


def readiness(ip: str) -> tuple[int, dict[str, Any]]:
    """A pod's own /ready answer: its status code and body (the reason it is not ready)."""
    try:
        answer = httpx.get(f"http://{ip}:8080/ready", timeout=3)
    except httpx.HTTPError as e:
        return 0, {"error": str(e)}
    return answer.status_code, answer.json()


def test_a_pod_started_while_mlflow_is_down_waits_not_ready_and_joins_when_it_returns(
    api_client: Any,
    served: Served,
    mlflow_state: Path,
    mlflow_url: str,
    figures: dict[str, dict[str, Any]],
) -> None:
    core = client.CoreV1Api(api_client)
    mlflow = devenv.Proc(mlflow_state, "mlflow")
    argv, env = mlflow.command()
    before = containers(api_client, served)
    with Load(f"{served.url}/predict", json.dumps(ROW).encode(), rate=RATE) as load:
        time.sleep(3)
        try:
            mlflow.stop()
            core.delete_namespaced_pod(min(before), served.namespace)

            def replacement() -> Any:
                pods = core.list_namespaced_pod(
                    served.namespace, label_selector=f"app.kubernetes.io/instance={served.name}"
                ).items
                return next(
                    (p for p in pods if p.metadata.name not in before and p.status.pod_ip), None
                )

            pod = wait_for(replacement, 60, "the replacement pod to get an address")
            name, ip = pod.metadata.name, pod.status.pod_ip

            def refused() -> dict[str, Any] | None:
                code, body = readiness(ip)
                return body if code == 503 and body.get("reason") else None

            why = wait_for(refused, 120, f"{name} to say why it is not ready")
            time.sleep(max(20.0, AFTER))  # down a while: still waiting, not crash-looping
            held = core.read_namespaced_pod(name, served.namespace)
        finally:
            mlflow.start(argv, env)
            devenv.wait_http(f"{mlflow_url}/health", 120, proc=mlflow)
        t0 = time.monotonic()
        wait_for(lambda: readiness(ip)[0] == 200, 120, f"{name} ready once MLflow is back")
        recovered = time.monotonic() - t0
        # ...and in the Service: it takes its share of the requests.
        wait_for(lambda: answered(ip) > 0, 60, f"{name} to answer through the Service")
        time.sleep(3)
    out = load.outcome
    print(
        f"MLflow down while a pod started: it said {why.get('reason')!r}, ready "
        f"{recovered:.1f}s after MLflow returned; {out.sent} requests at {out.rate:.0f}/s, "
        f"{out.failed} failed ({dict(out.statuses)} {dict(out.errors)})"
    )
    figures["mlflow"] = counted(
        out, reason=why.get("reason"), recovered_seconds=round(recovered, 1), held=False
    )
    assert why["reason"] == "RegistryUnavailable", why
    assert not any(c.ready for c in held.status.container_statuses), "ready without a model"
    assert containers(api_client, served)[name][0] == 0, "waited for MLflow, never restarted"
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    figures["mlflow"]["held"] = True


# --- Redis: the cache and the prediction log's store, killed and firewalled ---------------

# Twenty distinct rows in turn: after the first of each, the cache has the answer.
BODIES = [json.dumps({"features": [[i / 10, -0.2, 0.3, 0.4]]}).encode() for i in range(20)]
HITS = "modelops_runtime_cache_hits_total"
ERRORS = "modelops_runtime_redis_errors_total"


@dataclass(frozen=True)
class Logging:
    """`modelops-runtime serve` (two workers) caching and logging every request to a Redis
    that fsyncs each write before acknowledging it: what the stream holds after a kill is
    exactly what the runtime was told was written."""

    url: str
    redis_url: str
    redis_state: Path
    port: int
    stream: str

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5).text

    def logged(self) -> int:
        with redis.Redis.from_url(self.redis_url) as r:
            return int(r.xlen(self.stream))


@pytest.fixture
def logging_runtime(mlflow_url: str, tmp_path: Path) -> Iterator[Logging]:
    state = tmp_path / "redis"
    redis_url = devenv.redis_start(state, durable=True)
    name = f"fr-{uuid.uuid4().hex[:6]}"
    register_model(mlflow_url, name)
    stream = f"modelops:predictions:faults:{name}"
    try:
        with serving(
            f"models:/{name}@champion",
            mlflow_url,
            tmp_path,
            WORKERS="2",
            CACHE_ENABLED="true",
            REDIS_URL=redis_url,
            PREDICTION_LOG_ENABLED="true",
            PREDICTION_LOG_SAMPLE_RATE="1",
            PREDICTION_LOG_STREAM=stream,
            PREDICTION_LOG_MAX_LEN="10000000",
            # Past this a request is a 504 and counts as failed: "within the deadline".
            REQUEST_TIMEOUT_MS="1000",
        ) as served:
            port = int(redis_url.removeprefix("redis://127.0.0.1:").split("/")[0])
            yield Logging(served["url"], redis_url, state, port, stream)
    finally:
        devenv.Proc(state, "redis").stop()


def accounted(rt: Logging, ok: int) -> tuple[float, float]:
    """(written, dropped) once every answered request's row is one or the other: the log
    writes in the background, after the answer."""

    def settled() -> tuple[float, float] | None:
        text = rt.metrics()
        written, dropped = metric(text, WRITTEN), metric(text, DROPPED)
        return (written, dropped) if written + dropped >= ok else None

    return wait_for(settled, 30, f"all {ok} answered rows written or counted dropped")


def resumed(rt: Logging, since: float) -> float:
    """Seconds from `since` until both the log writes and the cache answers again."""
    text = rt.metrics()
    written, hits = metric(text, WRITTEN), metric(text, HITS)

    def both() -> bool:
        now = rt.metrics()
        return metric(now, WRITTEN) > written and metric(now, HITS) > hits

    wait_for(both, 60, "the prediction log and the cache to resume", interval=0.2)
    return time.monotonic() - since


def test_redis_killed_under_load_fails_no_request_and_counts_every_row_it_did_not_log(
    logging_runtime: Logging, figures: dict[str, dict[str, Any]]
) -> None:
    rt = logging_runtime
    with Load(f"{rt.url}/predict", BODIES, rate=REDIS_RATE) as load:
        time.sleep(3)
        pid = devenv.Proc(rt.redis_state, "redis").pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(3)
        devenv.redis_start(rt.redis_state, rt.port, durable=True)
        back = time.monotonic()
        recovered = resumed(rt, back)
        time.sleep(AFTER)
    out = load.outcome
    written, dropped = accounted(rt, out.ok)
    logged = rt.logged()
    text = rt.metrics()
    served = metric(text, "modelops_runtime_requests_total", endpoint="/predict", code="200")
    print(
        f"Redis killed under load: {out.sent} requests at {out.rate:.0f}/s, {out.failed} failed "
        f"({dict(out.statuses)} {dict(out.errors)}); log and cache back {recovered:.1f}s after "
        f"Redis; rows: {written:.0f} written, {dropped:.0f} dropped, {logged} in the stream"
    )
    figures["redis_killed"] = counted(
        out,
        recovered_seconds=round(recovered, 1),
        rows_written=written,
        rows_dropped=dropped,
        rows_in_stream=logged,
        held=False,
    )
    assert out.failed == 0, (dict(out.statuses), dict(out.errors), dict(out.refusals))
    assert served == out.ok, "the runtime counted the requests the load generator saw answered"
    assert dropped > 0, "the kill cost the log rows: else this test proved nothing"
    assert written + dropped == out.ok, "every answered request's row written or dropped"
    assert logged == written, "the stream holds exactly the rows counted written"
    figures["redis_killed"]["held"] = True


def latencies_between(out: Outcome, start: float, end: float) -> list[float]:
    """The latencies of the requests sent between two monotonic times (a slow one answered
    after `end` included)."""
    return sorted(
        lat
        for (t, _, _), lat in zip(out.answers, out.latencies, strict=True)
        if start <= t - lat <= end
    )


def test_redis_unreachable_without_a_reset_keeps_requests_in_their_deadline_and_opens_the_breaker(
    logging_runtime: Logging, figures: dict[str, dict[str, Any]]
) -> None:
    rt = logging_runtime
    # Loopback packets to Redis dropped: no reset, no refusal, only silence.
    rule = ["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(rt.port), "-j", "DROP",
            "-m", "comment", "--comment", "modelops-test-redis-drop"]  # fmt: skip
    hold = max(AFTER, 10.0)
    with Load(f"{rt.url}/predict", BODIES, rate=REDIS_RATE) as load:
        time.sleep(3)
        before = rt.metrics()
        subprocess.run(["iptables", "-w", "-I", *rule], check=True)
        blocked = time.monotonic()
        try:
            time.sleep(hold)
            during = rt.metrics()
        finally:
            removed = subprocess.run(["iptables", "-w", "-D", *rule], capture_output=True)
        assert removed.returncode == 0, removed.stderr
        opened = time.monotonic()
        recovered = resumed(rt, opened)
        time.sleep(3)
    out = load.outcome
    written, dropped = accounted(rt, out.ok)
    window = latencies_between(out, blocked, opened)
    assert window, "no request was sent while Redis was unreachable"
    p99 = window[int(0.99 * (len(window) - 1))]
    errors = {
        c: metric(during, ERRORS, component=c) - metric(before, ERRORS, component=c)
        for c in ("cache", "prediction_log")
    }
    print(
        f"Redis firewalled {hold:.0f}s under load: {out.sent} requests at {out.rate:.0f}/s, "
        f"{out.failed} failed; while blocked {len(window)} answered, p99 {p99 * 1000:.0f} ms, "
        f"max {window[-1] * 1000:.0f} ms; Redis errors {errors}; back {recovered:.1f}s after"
    )
    figures["redis_firewalled"] = counted(
        out,
        recovered_seconds=round(recovered, 1),
        p99_ms_blocked=round(p99 * 1000),
        max_ms_blocked=round(window[-1] * 1000),
        redis_errors_blocked=errors,
        rows_dropped=dropped,
        held=False,
    )
    assert out.failed == 0, (dict(out.statuses), dict(out.errors), dict(out.refusals))
    # Every request waited at most one Redis timeout (50 ms), and only while the breaker was
    # closed or probing: the requests did not queue up behind a silent Redis.
    assert p99 < 0.25, f"p99 {p99 * 1000:.0f} ms while Redis was unreachable"
    # Open: a few failures and a probe now and then, not one per request (two workers, two
    # breakers each).
    assert 0 < errors["cache"] < len(window) / 20, errors
    assert written + dropped == out.ok, "every answered request's row written or dropped"
    figures["redis_firewalled"]["held"] = True


# --- The object store: down when a drift run reads its reference -------------------------


def test_a_drift_run_with_the_object_store_down_fails_clearly_and_the_next_one_succeeds(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    operator: OperatorProcess,
    mlflow_url: str,
    s3: dict[str, str],
    s3_state: Path,
    tmp_path: Path,
    figures: dict[str, dict[str, Any]],
) -> None:
    namespace = real_namespace
    name, _, reference = drifting_deployment(
        api_client, namespace, real_node, pod_services, mlflow_url, s3, tmp_path
    )
    store = devenv.Proc(s3_state, "s3")
    port = int(s3["endpoint"].rsplit(":", 1)[1])
    try:
        store.stop()
        client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "driftmonitors",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "DriftMonitor",
                "metadata": {"name": "watch"},
                "spec": {
                    "modelDeploymentRef": {"name": name},
                    "schedule": "* * * * *",
                    "reference": {"uri": reference},
                    "current": {"window": "10m", "minRows": 50},
                },
            },
        )
        # The CronJob starts a run at the next minute; its pod starts Python and pandas.
        failed = wait_for(
            lambda: last_run(api_client, namespace, "watch"), 200, "the run with S3 down"
        )
    finally:
        devenv.s3_start(s3_state, port)
    back = time.monotonic()

    def succeeded() -> dict[str, Any] | None:
        run = last_run(api_client, namespace, "watch")
        return run if run and run["jobName"] != failed["jobName"] and not run.get("error") else None

    run = wait_for(succeeded, 200, "a later run to succeed with S3 back", interval=2)
    recovered = time.monotonic() - back
    dm = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "driftmonitors", "watch"
    )
    conditions = {c["type"]: c["status"] for c in dm["status"]["conditions"]}
    print(
        f"Object store down at a drift run: it failed with {failed.get('error')!r}; the next "
        f"succeeded {recovered:.1f}s after the store was back (drifted: {run['driftedColumns']})"
    )
    figures["object_store"] = {
        "error": failed.get("error"),
        "recovered_seconds": round(recovered, 1),
        "held": False,
    }
    assert failed.get("datasetDrift") is None, failed
    # The failure names what it could not reach, not a traceback.
    assert reference in failed["error"] and "Traceback" not in failed["error"], failed
    assert run["datasetDrift"] is True and run["driftedColumns"] == ["c"], run
    assert conditions["LastRunSucceeded"] == "True" and conditions["Ready"] == "True"
    figures["object_store"]["held"] = True


def kill_container(api_client: Any, ns: str, pod: str) -> None:
    """SIGKILL every process of the pod's (first) container, as the kernel's OOM killer or a
    crash would: no shutdown handler runs, the kubelet restarts it in place."""
    found = client.CoreV1Api(api_client).read_namespaced_pod(pod, ns)
    container = found.status.container_statuses[0].container_id.split("://", 1)[1]
    pids = pod_pids(found.metadata.uid, container)
    assert pids, f"no process in {pod}'s container {container}"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def children(api_client: Any, ns: str) -> dict[str, list[tuple[str, str | None]]]:
    """Every object the operator made in `ns`, by kind: (name, its controller's uid)."""
    selector = "app.kubernetes.io/managed-by=modelops"
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    listers = {
        "Deployment": apps.list_namespaced_deployment,
        "Service": core.list_namespaced_service,
        "ConfigMap": core.list_namespaced_config_map,
        "PodDisruptionBudget": client.PolicyV1Api(api_client).list_namespaced_pod_disruption_budget,
        "HorizontalPodAutoscaler": client.AutoscalingV2Api(
            api_client
        ).list_namespaced_horizontal_pod_autoscaler,
        "Job": client.BatchV1Api(api_client).list_namespaced_job,
    }
    found: dict[str, list[tuple[str, str | None]]] = {}
    for kind, lister in listers.items():
        for o in lister(ns, label_selector=selector).items:
            owner = next((r.uid for r in o.metadata.owner_references or [] if r.controller), None)
            found.setdefault(kind, []).append((o.metadata.name, owner))
    return found


@pytest.mark.timeout(720)
def test_the_leader_killed_mid_rollout_hands_it_to_the_standby_which_completes_it(
    cluster: dict[str, str],
    crds: None,
    api_client: Any,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    figures: dict[str, dict[str, Any]],
) -> None:
    """The chart's two operator replicas; a canary under load; the working replica's process
    killed (no goodbye on the peering object: the standby waits out its keep-alive) in the
    first step. The standby
    picks the rollout up at the same step and clock and promotes once; no request fails and
    every child exists once, owned by its ModelDeployment."""
    ns = f"modelops-lead-{uuid.uuid4().hex[:6]}"
    rollout = {
        "strategy": "Canary",
        # The first step outlasts the candidate's loading in both pods and the takeover.
        "steps": [{"weight": 20, "duration": "90s"}, {"weight": 50, "duration": "20s"}],
        "analysis": {"maxErrorRate": 0.01, "minRequests": 20},
    }
    # The chart's policy admits its own registry only: the address the pods reach it by.
    with chart_operator(
        cluster, api_client, real_node, ns,
        "--set", f"operator.mlflowTrackingUri={pod_services['mlflow_ip']}",
        "--set", "operator.modelPollSeconds=5",
    ) as pods:  # fmt: skip
        name = f"l-{uuid.uuid4().hex[:6]}"
        log_threshold_model(name, mlflow_url, cut=0.5, alias="champion")
        rollouts.deploy(api_client, ns, name, real_node, pod_services, rollout, replicas=2)
        wait_ready(api_client, ns, name, 240)
        url = service_url(api_client, ns, name)
        leader = leader_pod(api_client, ns, pods)
        with Load(f"{url}/predict", rollouts.INPUTS, rate=RATE) as load:
            v2 = log_threshold_model(name, mlflow_url, cut=0.5, alias="challenger")
            first = rollouts.wait_rollout(
                api_client, ns, name, "the first step", lambda r: rollouts.settled(r)
            )
            assert first.get("step", 0) == 0, first
            version = md(api_client, ns, name)["metadata"]["resourceVersion"]
            kill_container(api_client, ns, leader)
            killed = time.monotonic()
            # Each pass writes the analysis' fresh counts: the first write after the kill is
            # the replica that took over (the killed one writes nothing more).
            wait_for(
                lambda: md(api_client, ns, name)["metadata"]["resourceVersion"] != version,
                60,
                "a replica to take the rollout over",
                interval=0.5,
            )
            taken = time.monotonic() - killed
            second = rollouts.wait_rollout(
                api_client, ns, name, "the second step", lambda r: r.get("step") == 1
            )
            done = rollouts.wait_rollout(
                api_client, ns, name, "the promotion", lambda r: r["phase"] == "Promoted"
            )
            wait_ready(api_client, ns, name, 240)
            time.sleep(AFTER)
        out = load.outcome
        killed_pod = client.CoreV1Api(api_client).read_namespaced_pod(leader, ns)
        now_leading = leader_pod(api_client, ns, pods)
        obj = md(api_client, ns, name)
        made = children(api_client, ns)
        reasons = rollouts.event_reasons(api_client, ns, name)
    print(
        f"leader {leader} killed at step 0 ({first['message']}): taken over {taken:.1f}s later, "
        f"then step 1 ({second['message']}); {now_leading} leads; "
        f"{done['message']}; "
        f"{out.sent} requests at {out.rate:.0f}/s, {out.failed} failed; children {made}"
    )
    figures["leader"] = counted(out, away_seconds=round(taken, 1), held=False)
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    assert killed_pod.status.container_statuses[0].restart_count == 1, "killed once, restarted"
    # The standby started first, so it outranks the killed replica's restarted process.
    assert now_leading != leader and now_leading in pods, (leader, now_leading)
    assert first["startedAt"] == second["startedAt"] == done["startedAt"], "resumed, not restarted"
    assert reasons["RolloutPromoted"] == 1 and reasons["RolloutStepAdvanced"] == 1, reasons
    assert rollouts.alias(mlflow_url, name, "champion") == v2
    assert obj["status"]["model"]["version"] == v2
    uid = obj["metadata"]["uid"]
    # One of each serving child, no leftover validation Job or second Deployment.
    assert {k: sorted(v) for k, v in made.items()} == {
        "Deployment": [(name, uid)],
        "Service": [(name, uid)],
        "ConfigMap": [(f"{name}-traffic", uid)],
        "PodDisruptionBudget": [(name, uid)],
    }, made
    figures["leader"]["held"] = True
