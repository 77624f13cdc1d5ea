"""Rollouts on the real node, under real traffic through the Service: a validation gate that
keeps a candidate below its minimum from any traffic, exact canary weights at
one replica and at five, a weight change without restarts, abort and promote by annotation, a
candidate broken on some inputs rolled back with the stable version serving throughout, a good
one promoted through its steps across an operator restart (the champion alias moves), shadow
agreement, and sticky A/B assignment."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes import client

from .conftest import OperatorProcess
from .helpers import pod_report, wait_for
from .load import Load
from .runtime_helpers import log_threshold_model
from .test_health_checks import health
from .test_pods import GROUP, PLURAL, VERSION, md, running_pods, service_url, wait_ready

pytestmark = pytest.mark.timeout(600)
# x = 0.00 ... 0.99 in turn: a model's share of any property of x is known exactly.
INPUTS = [json.dumps({"features": [[i / 100]]}).encode() for i in range(100)]
ANNOTATION = "modelops.dev/rollout"


def _spread_disagreements() -> list[bytes]:
    """The 100 inputs ordered so that one in every five lies in (0.5, 0.7], where a cut at 0.7
    disagrees with a cut at 0.5: any run of N of them holds N/5 such inputs, give or take one."""
    xs = [i / 100 for i in range(100)]
    apart = [x for x in xs if 0.5 < x <= 0.7]
    agree = [x for x in xs if not 0.5 < x <= 0.7]
    order = [x for j in range(20) for x in (apart[j], *agree[4 * j : 4 * j + 4])]
    return [json.dumps({"features": [[x]]}).encode() for x in order]


SHADOW_INPUTS = _spread_disagreements()


def deploy(
    api_client: Any,
    namespace: str,
    name: str,
    node: dict[str, str],
    services: dict[str, str],
    rollout: dict[str, Any],
    replicas: int = 1,
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {
                "uri": f"models:/{name}@champion",
                "trackingUri": services["mlflow_ip"],
                "allowPickle": True,
            },
            "replicas": replicas,
            "runtime": {"image": node["runtime"], "resources": {"requests": {"cpu": "50m"}}},
            "rollout": {"candidate": f"models:/{name}@challenger", **rollout},
        },
    }
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )


def patch(api_client: Any, namespace: str, name: str, body: dict[str, Any]) -> None:
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, body
    )


def rollout_of(api_client: Any, namespace: str, name: str) -> dict[str, Any]:
    return (md(api_client, namespace, name).get("status") or {}).get("rollout") or {}


def wait_rollout(
    api_client: Any, namespace: str, name: str, what: str, ok: Any, timeout: float = 240
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        r = rollout_of(api_client, namespace, name)
        return r if r and ok(r) else None

    try:
        return wait_for(check, timeout, what, interval=0.5)
    except AssertionError:
        print(rollout_of(api_client, namespace, name))
        print(pod_report(api_client, namespace))
        raise


def settled(r: dict[str, Any]) -> bool:
    """Progressing with every pod loaded with both versions and applying the split (the step
    clock runs, or it ran out and waits for requests)."""
    message = r.get("message", "")
    waits = "runs until" in message or "requests to the candidate" in message
    return r.get("phase") == "Progressing" and waits


def mlflow(mlflow_url: str) -> Any:
    import mlflow as m

    return m.MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)


def alias(mlflow_url: str, name: str, which: str) -> str:
    return str(mlflow(mlflow_url).get_model_version_by_alias(name, which).version)


def outcome_tag(mlflow_url: str, name: str, version: str) -> str:
    return str(mlflow(mlflow_url).get_model_version(name, version).tags.get(ANNOTATION, ""))


def event_reasons(api_client: Any, namespace: str, name: str) -> Counter[str]:
    events = client.CoreV1Api(api_client).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return Counter(e.reason for e in events.items)


def timeline(
    api_client: Any,
    namespace: str,
    failures: list[tuple[float, int | None]],
    marks: tuple[tuple[float, str], ...] = (),
) -> str:
    """Failed requests among the namespace's events and pod lifecycles, in time order: what a
    failed zero-failure assertion needs to be read."""
    core = client.CoreV1Api(api_client)
    rows = [(t, f"request failed ({s or 'connection'})") for t, s in failures]
    rows += marks
    for ev in core.list_namespaced_event(namespace).items:
        at = ev.last_timestamp or ev.event_time or ev.first_timestamp
        if at is not None:
            rows.append((at.timestamp(), f"{ev.involved_object.name}: {ev.reason} {ev.message}"))
    for pod in core.list_namespaced_pod(namespace).items:
        rows.append((pod.metadata.creation_timestamp.timestamp(), f"{pod.metadata.name} created"))
        if pod.metadata.deletion_timestamp is not None:
            at = pod.metadata.deletion_timestamp.timestamp() - (
                pod.metadata.deletion_grace_period_seconds or 0
            )
            rows.append((at, f"{pod.metadata.name} marked terminating"))
        for cond in pod.status.conditions or []:
            if cond.type == "Ready" and cond.last_transition_time is not None:
                rows.append(
                    (
                        cond.last_transition_time.timestamp(),
                        f"{pod.metadata.name} Ready={cond.status}",
                    )
                )
    stamp = "%H:%M:%S.%f"
    lines = [f"{datetime.fromtimestamp(t).strftime(stamp)[:-3]} {w}" for t, w in sorted(rows)]
    return "\n".join(lines)


def shares(url: str, requests: int) -> Counter[str | None]:
    """The version that answered each of `requests` requests, sent as fast as 16 clients go."""
    with Load(f"{url}/predict", INPUTS, rate=100_000) as load:
        wait_for(lambda: load.outcome.sent >= requests, 300, f"{requests} requests", interval=0.2)
    out = load.outcome
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    answered = Counter(v for _, _, v in out.answers[:requests])
    assert sum(answered.values()) == requests
    return answered


def post(url: str, headers: dict[str, str]) -> str:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=10)
    try:
        conn.request("POST", "/predict", INPUTS[7], {"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        return str(resp.getheader("x-model-version"))
    finally:
        conn.close()


def monotonic_of(stamp: str) -> float:
    """A status timestamp on this process's monotonic clock."""
    wall = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return time.monotonic() - (time.time() - wall)


@dataclass
class Setup:
    """What every rollout test starts from: a namespace on the real node, its services, MLflow."""

    api_client: Any
    ns: str
    node: dict[str, str]
    services: dict[str, str]
    mlflow_url: str

    def serve(
        self, prefix: str, rollout: dict[str, Any], replicas: int = 1
    ) -> tuple[str, str, str]:
        """A new model whose version 1 (x > 0.5) is @champion, served Ready with `rollout`:
        (its name, "1", the Service URL)."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        v1 = log_threshold_model(name, self.mlflow_url, cut=0.5, alias="champion")
        deploy(self.api_client, self.ns, name, self.node, self.services, rollout, replicas)
        wait_ready(self.api_client, self.ns, name, 240)
        return name, v1, service_url(self.api_client, self.ns, name)


@pytest.fixture
def setup(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
) -> Setup:
    return Setup(api_client, real_namespace, real_node, pod_services, mlflow_url)


def test_canary_weights_are_exact_at_one_replica_and_at_five_and_change_without_restarts(
    setup: Setup,
    operator: OperatorProcess,
) -> None:
    api_client, ns, mlflow_url = setup.api_client, setup.ns, setup.mlflow_url
    steps = [{"weight": 30, "duration": "1h"}]
    name, v1, url = setup.serve("w", {"strategy": "Canary", "steps": steps})
    v2 = log_threshold_model(name, mlflow_url, cut=0.6, alias="challenger")
    wait_rollout(api_client, ns, name, "the canary to start", settled)
    pods = {p.metadata.name for p in running_pods(api_client, ns, name)}

    one = shares(url, 10_000)
    print(f"weight 30, 1 replica: {one[v2] / 100:.2f}% to the candidate of 10,000 ({one})")
    assert abs(one[v2] / 10_000 - 0.30) <= 0.02 and set(one) == {v1, v2}

    patch(
        api_client, ns, name, {"spec": {"rollout": {"steps": [{"weight": 70, "duration": "1h"}]}}}
    )
    t0 = time.monotonic()

    def moved() -> bool:
        window = Counter(post(url, {}) for _ in range(50))
        return window[v2] >= 25

    wait_for(moved, 30, "the new weight to apply", interval=0.1)
    took = time.monotonic() - t0
    print(f"weight 30 -> 70 applied in {took:.1f}s")
    assert took <= 10
    assert {p.metadata.name for p in running_pods(api_client, ns, name)} == pods, "no restart"

    patch(api_client, ns, name, {"spec": {"replicas": 5}})
    apps = client.AppsV1Api(api_client)
    wait_for(
        lambda: (apps.read_namespaced_deployment(name, ns).status.ready_replicas or 0) == 5,
        240,
        "5 ready replicas",
        interval=1,
    )
    five = shares(url, 10_000)
    print(f"weight 70, 5 replicas: {five[v2] / 100:.2f}% to the candidate of 10,000 ({five})")
    assert abs(five[v2] / 10_000 - 0.70) <= 0.02

    assert health("modeldeployment.lua", md(api_client, ns, name))[0] == "Progressing"
    patch(api_client, ns, name, {"metadata": {"annotations": {ANNOTATION: "pause"}}})
    wait_rollout(api_client, ns, name, "the pause", lambda r: r["phase"] == "Paused")
    assert health("modeldeployment.lua", md(api_client, ns, name))[0] == "Suspended"
    patch(api_client, ns, name, {"metadata": {"annotations": {ANNOTATION: "abort"}}})
    done = wait_rollout(api_client, ns, name, "the abort", lambda r: r["phase"] == "RolledBack")
    assert "aborted" in done["message"]
    assert health("modeldeployment.lua", md(api_client, ns, name))[0] == "Degraded"
    wait_for(
        lambda: ANNOTATION not in (md(api_client, ns, name)["metadata"].get("annotations") or {}),
        30,
        "the command annotation to be cleared",
    )
    after = Counter(post(url, {}) for _ in range(100))
    assert after == Counter({v1: 100}), after
    assert alias(mlflow_url, name, "champion") == v1
    assert outcome_tag(mlflow_url, name, v2).startswith("rolledback in")


def test_a_candidate_failing_on_some_inputs_is_rolled_back_while_the_stable_serves(
    setup: Setup,
    operator: OperatorProcess,
) -> None:
    api_client, ns, mlflow_url = setup.api_client, setup.ns, setup.mlflow_url
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 20, "duration": "5m"}],
        "analysis": {"maxErrorRate": 0.01, "minRequests": 50},
    }
    name, v1, url = setup.serve("b", rollout, replicas=2)
    with Load(f"{url}/predict", INPUTS, rate=100) as load:
        v2 = log_threshold_model(name, mlflow_url, cut=0.5, fail_above=0.9, alias="challenger")
        done = wait_rollout(
            api_client, ns, name, "the rollback", lambda r: r["phase"] == "RolledBack"
        )
        time.sleep(20)
    decided = monotonic_of(done["finishedAt"])
    out = load.outcome
    last_candidate = max((t for t, _, v in out.answers if v == v2), default=0.0)
    failed = [(s, v) for _, s, v in out.answers if s is None or not 200 <= s < 300]
    print(
        f"rolled back: {done['message']}; last candidate answer {last_candidate - decided:+.1f}s "
        f"from the decision; {out.sent} requests, failures by version "
        f"{Counter(v for _, v in failed)}"
    )
    assert "errorRate" in done["message"]
    assert last_candidate - decided <= 15
    assert failed and all(v == v2 for _, v in failed), "only the candidate's own answers fail"
    assert out.by_version(since=decided + 15) == Counter(
        {v1: len([a for a in out.answers if a[0] >= decided + 15])}
    )
    assert alias(mlflow_url, name, "champion") == v1
    assert "rolledback" in outcome_tag(mlflow_url, name, v2)
    assert event_reasons(api_client, ns, name)["RolloutRolledBack"] == 1
    ready = [c for c in md(api_client, ns, name)["status"]["conditions"] if c["type"] == "Degraded"]
    assert ready[0]["status"] == "True" and ready[0]["reason"] == "RolloutRolledBack"


def test_a_good_candidate_is_promoted_through_its_steps_across_an_operator_restart(
    setup: Setup,
    operator: OperatorProcess,
) -> None:
    api_client, ns, mlflow_url = setup.api_client, setup.ns, setup.mlflow_url
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 10, "duration": "20s"}, {"weight": 50, "duration": "20s"}],
        "analysis": {"maxErrorRate": 0.01, "minRequests": 20, "maxP99LatencyMs": 2000},
    }
    name, _, url = setup.serve("g", rollout)
    with Load(f"{url}/predict", INPUTS, rate=60) as load:
        v2 = log_threshold_model(name, mlflow_url, cut=0.5, alias="challenger")
        second = wait_rollout(api_client, ns, name, "the second step", lambda r: r.get("step") == 1)
        marks = [(time.time(), "operator stopped")]
        operator.stop()
        time.sleep(8)
        marks.append((time.time(), "operator started"))
        operator.start()
        done = wait_rollout(
            api_client, ns, name, "the promotion", lambda r: r["phase"] == "Promoted"
        )
        wait_ready(api_client, ns, name, 240)
    out = load.outcome
    print(f"promoted: {done['message']}; {out.sent} requests, {out.failed} failed")
    if out.failed:
        print(timeline(api_client, ns, out.failures(), tuple(marks)), dict(out.refusals))
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    assert done["startedAt"] == second["startedAt"], "resumed, not restarted from zero"
    assert [a["metric"] for a in done["analysis"]][:2] == ["requests", "errorRate"]
    assert all(a["passed"] for a in done["analysis"])
    assert alias(mlflow_url, name, "champion") == v2
    assert outcome_tag(mlflow_url, name, v2).startswith("promoted in")
    reasons = event_reasons(api_client, ns, name)
    assert reasons["RolloutPromoted"] == 1 and reasons["RolloutStepAdvanced"] == 1, reasons
    assert md(api_client, ns, name)["status"]["model"]["version"] == v2


def test_shadow_measures_agreement_off_the_response_path(
    setup: Setup,
    operator: OperatorProcess,
) -> None:
    api_client, ns, mlflow_url = setup.api_client, setup.ns, setup.mlflow_url
    rollout = {
        "strategy": "Shadow",
        "shadow": {"duration": "20s"},
        "analysis": {"minRequests": 300, "minAgreement": 0.7},
    }
    name, v1, url = setup.serve("s", rollout)
    # Disagrees with the stable version exactly on x in (0.5, 0.7]: 20 inputs of 100.
    v2 = log_threshold_model(name, mlflow_url, cut=0.7, alias="challenger")
    # Traffic once the one pod holds both versions, in order, one request at a time: the rows
    # the candidate compared are then a run of SHADOW_INPUTS, a fifth of them apart.
    wait_rollout(api_client, ns, name, "the shadow to start", settled)
    with Load(f"{url}/predict", SHADOW_INPUTS, rate=60, threads=1) as load:
        done = wait_rollout(
            api_client, ns, name, "the promotion", lambda r: r["phase"] == "Promoted"
        )
    promoted = monotonic_of(done["finishedAt"])
    agreement = next(a for a in done["analysis"] if a["metric"] == "agreement")
    print(f"shadow agreement {agreement['value']} (expected 0.80)")
    assert abs(agreement["value"] - 0.80) <= 0.02
    before = load.outcome.by_version()
    assert all(v == v1 for t, _, v in load.outcome.answers if t < promoted - 1), before
    assert alias(mlflow_url, name, "champion") == v2


def test_ab_assignment_sticks_to_the_key_and_promotes_on_the_annotation(
    setup: Setup,
    operator: OperatorProcess,
) -> None:
    api_client, ns, mlflow_url = setup.api_client, setup.ns, setup.mlflow_url
    rollout = {
        "strategy": "ABTest",
        "abTest": {"key": "header:X-User-Id", "weight": 50, "duration": "1h"},
    }
    name, v1, url = setup.serve("a", rollout)
    v2 = log_threshold_model(name, mlflow_url, cut=0.6, alias="challenger")
    wait_rollout(api_client, ns, name, "the A/B test to start", settled)
    users = [f"user-{i}" for i in range(400)]
    first = {u: post(url, {"X-User-Id": u}) for u in users}
    again = {u: post(url, {"X-User-Id": u}) for u in users}
    share = sum(v == v2 for v in first.values()) / len(users)
    print(f"A/B: {share:.2%} of 400 keys on the candidate; sticky: {first == again}")
    assert first == again
    assert 0.4 <= share <= 0.6
    assert {post(url, {}) for _ in range(30)} == {v1}, "no key: the stable version"
    patch(api_client, ns, name, {"metadata": {"annotations": {ANNOTATION: "promote"}}})
    wait_rollout(api_client, ns, name, "the promotion", lambda r: r["phase"] == "Promoted")
    assert alias(mlflow_url, name, "champion") == v2


def log_holdout(mlflow_url: str, tmp: Path) -> str:
    """x = 0.00 ... 0.99 labelled x > 0.5, logged on a run: runs:/RUN/holdout.csv."""
    import mlflow as m

    path = tmp / "holdout.csv"
    rows = [(i / 100, int(i / 100 > 0.5)) for i in range(100)]
    path.write_text("x,label\n" + "\n".join(f"{x},{y}" for x, y in rows) + "\n")
    m.set_tracking_uri(mlflow_url)
    with m.start_run() as run:
        m.log_artifact(str(path))
    return f"runs:/{run.info.run_id}/holdout.csv"


def test_validation_keeps_a_candidate_below_the_minimum_from_any_traffic(
    setup: Setup,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    api_client, ns, mlflow_url = setup.api_client, setup.ns, setup.mlflow_url
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 50, "duration": "1h"}],
        "validation": {
            "data": log_holdout(mlflow_url, tmp_path),
            "target": "label",
            "metrics": [{"name": "accuracy", "min": 0.85, "maxRegression": 0.05}],
        },
    }
    name, v1, url = setup.serve("v", rollout)
    with Load(f"{url}/predict", INPUTS, rate=30) as load:
        # Wrong on x in (0.5, 0.9]: accuracy 0.60 on the holdout.
        v2 = log_threshold_model(name, mlflow_url, cut=0.9, alias="challenger")
        failed = wait_rollout(
            api_client, ns, name, "the gate to fail", lambda r: r["phase"] == "Failed", 300
        )
    print(f"validation: {failed['message']}")
    assert "accuracy: 0.6000 < min 0.85" in failed["message"]
    assert [(c["metric"], c["value"]) for c in failed["validation"]][0] == ("accuracy", 0.6)
    out = load.outcome
    assert out.failed == 0 and set(out.by_version()) == {v1}, out.by_version()
    env = client.AppsV1Api(api_client).read_namespaced_deployment(name, ns)
    names = {e.name for e in env.spec.template.spec.containers[0].env}
    assert "CANDIDATE_MODEL_URI" not in names, "no pod ever loaded it"
    assert outcome_tag(mlflow_url, name, v2).startswith("failed in")
    assert event_reasons(api_client, ns, name)["RolloutFailed"] == 1

    # A newer candidate that holds the gate goes on to its first step.
    v3 = log_threshold_model(name, mlflow_url, cut=0.52, alias="challenger")
    started = wait_rollout(
        api_client,
        ns,
        name,
        "the validated canary",
        lambda r: r["candidateVersion"] == v3 and settled(r),
        300,
    )
    accuracy = started["validation"][0]
    assert (accuracy["metric"], accuracy["value"], accuracy["stableValue"]) == (
        "accuracy",
        0.98,
        1.0,
    )
    assert started["weight"] == 50
