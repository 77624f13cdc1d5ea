"""A failed reconcile as status: the reason, the server's message, one Event per failure."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import kopf
from kubernetes.client.exceptions import ApiException

from modelops.operator.status import failures

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def api_exception(status: int, message: str) -> ApiException:
    e = ApiException(status=status, reason="Unprocessable Entity")
    e.body = json.dumps({"kind": "Status", "message": message})
    return e


def test_an_apply_refusal_names_the_child_and_the_servers_words() -> None:
    f = failures.describe(failures.ApplyError("Service", "fraud", 422, 'Service "fraud" invalid'))
    assert f == failures.Failure(
        "ApplyFailed", 'Could not apply Service fraud: Service "fraud" invalid'
    )


def test_other_api_errors_keep_the_status_code_and_message() -> None:
    f = failures.describe(api_exception(403, "forbidden: exceeded quota"))
    assert f.reason == "KubernetesApiError"
    assert f.message == "Kubernetes API answered 403: forbidden: exceeded quota"


def test_invalid_specs_and_bugs_have_their_own_reasons() -> None:
    assert failures.describe(kopf.PermanentError("Invalid X: bad")).reason == "InvalidSpec"
    f = failures.describe(KeyError("spec"))
    assert (f.reason, f.message) == ("ReconcileFailed", "KeyError: 'spec'")


def test_long_messages_are_capped() -> None:
    f = failures.describe(RuntimeError("x" * 5000))
    assert len(f.message) == failures.MESSAGE_LIMIT


def test_ready_false_replaces_ready_and_keeps_the_rest() -> None:
    previous = {
        "observedGeneration": 1,
        "model": {"version": "3"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ModelServing",
                "message": "",
                "lastTransitionTime": "2025-12-31T00:00:00Z",
                "observedGeneration": 1,
            },
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        ],
    }
    failure = failures.Failure("ApplyFailed", "Could not apply Service x: no")
    out = failures.status_after_failure(previous, failure, 2, T0)
    assert out["model"] == {"version": "3"} and out["observedGeneration"] == 2
    ready, available, stalled = out["conditions"]
    assert ready == {
        "type": "Ready",
        "status": "False",
        "reason": "ApplyFailed",
        "message": "Could not apply Service x: no",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 2,
    }
    assert available["type"] == "Available"
    # A refused child needs a person (a quota, an admission policy): stuck, not converging.
    assert stalled == {**ready, "type": "Stalled", "status": "True"}
    assert previous["conditions"][0]["status"] == "True"  # the input is not modified


def test_a_failure_waiting_will_not_mend_is_stalled_and_replaces_reconciling() -> None:
    converging = failures.status_after_failure(
        None, failures.Failure("KubernetesApiError", "a"), 1, T0
    )
    assert converging["conditions"][-1]["type"] == "Reconciling"  # the apiserver may come back
    stuck = failures.status_after_failure(
        converging, failures.Failure("PolicyViolation", "b"), 1, T0
    )
    types = [(c["type"], c["status"], c["reason"]) for c in stuck["conditions"]]
    assert types == [("Ready", "False", "PolicyViolation"), ("Stalled", "True", "PolicyViolation")]


def test_a_failure_after_a_failure_keeps_the_transition_time_and_is_a_repeat() -> None:
    first = failures.Failure("ApplyFailed", "a")
    once = failures.status_after_failure(None, first, 1, T0)
    assert failures.is_repeat(once, first)
    assert not failures.is_repeat(once, failures.Failure("ApplyFailed", "b"))
    assert not failures.is_repeat(None, first)
    twice = failures.status_after_failure(once, failures.Failure("ApplyFailed", "b"), 1, T1)
    assert twice["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert twice["conditions"][0]["message"] == "b"


def owned_by(uid: str | None, kind: str = "ModelDeployment", name: str = "fraud") -> dict:
    refs = [] if uid is None else [{"kind": kind, "name": name, "uid": uid, "controller": True}]
    return {"kind": "Service", "metadata": {"name": "fraud", "ownerReferences": refs}}


def test_a_child_is_applied_only_when_absent_or_controlled_by_the_same_uid() -> None:
    desired = owned_by("u-1")
    failures.check_owned(None, desired)
    failures.check_owned(owned_by("u-1"), desired)
    for current, holder in (
        (owned_by(None), "not controlled by any object"),
        (owned_by("u-2"), "controlled by ModelDeployment fraud"),  # same name, another CR
        (owned_by("u-3", "DriftMonitor", "x"), "controlled by DriftMonitor x"),
    ):
        try:
            failures.check_owned(current, desired)
        except failures.NotOwnedError as e:
            assert holder in str(e) and "left untouched" in str(e)
            assert failures.describe(e).reason == "ResourceNotOwned"
        else:
            raise AssertionError(f"{current} was taken over")
