"""kopf's diff-base in memory: kopf's own cause detection run against it, as it runs on the
events of one object (creation, a failed first pass retried, a change, a restart); kopf's
progress without its marker."""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from kopf._cogs.structs import diffs
from kopf._core.intents import causes

from modelops.operator.handlers.persistence import InMemoryDiffBase, UnmarkedProgress, handled


def body(
    generation: int = 1, observed: int | None = None, uid: str = "u-1", **annotations: str
) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": uid,
            "generation": generation,
            "annotations": dict(annotations),
        },
        "spec": {"model": {"uri": f"models:/m/{generation}"}},
    }
    if observed is not None:
        raw["status"] = {"observedGeneration": observed}
    return kopf.Body(raw)


def cause(storage: InMemoryDiffBase, obj: kopf.Body, initial: bool = False) -> causes.Reason:
    """The reason kopf gives the event, and the essence kept as kopf keeps it once handled."""
    old, new = storage.fetch(body=obj), storage.build(body=obj)
    detected = causes.detect_changing_cause(
        finalizer="modelops.dev/finalizer",
        raw_event={"type": None if initial else "MODIFIED", "object": dict(obj)},
        body=obj,
        old=old,
        new=new,
        diff=diffs.diff(old, new),
        initial=initial,
        resource=None,
        indices=None,
        logger=None,
        patch=kopf.Patch(),
        memo=None,
    )
    return detected.reason


def handle(storage: InMemoryDiffBase, obj: kopf.Body) -> None:
    patch = kopf.Patch()
    storage.store(body=obj, patch=patch, essence=storage.build(body=obj))
    assert not patch  # nothing is written to the object


def test_a_new_object_is_created_once_and_then_nothing_is_new() -> None:
    storage = InMemoryDiffBase()
    assert cause(storage, body()) == causes.Reason.CREATE
    handle(storage, body())
    assert cause(storage, body(observed=1)) == causes.Reason.NOOP


def test_a_failed_first_pass_is_retried_as_a_creation_though_its_report_observed_it() -> None:
    storage = InMemoryDiffBase()
    assert cause(storage, body()) == causes.Reason.CREATE
    # The pass failed: its status observed generation 1, kopf did not store the essence.
    assert cause(storage, body(observed=1)) == causes.Reason.CREATE


def test_a_spec_or_annotation_change_is_an_update() -> None:
    storage = InMemoryDiffBase()
    cause(storage, body())
    handle(storage, body())
    assert cause(storage, body(generation=2, observed=1)) == causes.Reason.UPDATE
    assert cause(storage, body(observed=1, skip="true")) == causes.Reason.UPDATE


def test_after_a_restart_a_handled_object_resumes_and_an_unhandled_one_is_created() -> None:
    storage = InMemoryDiffBase()  # a new process: nothing in memory
    assert cause(storage, body(observed=1), initial=True) == causes.Reason.RESUME
    assert cause(storage, body(observed=1)) == causes.Reason.NOOP  # kept from the listing
    other = InMemoryDiffBase()
    assert cause(other, body(generation=2, observed=1), initial=True) == causes.Reason.CREATE


def test_a_forgotten_or_evicted_object_falls_back_to_its_status() -> None:
    storage = InMemoryDiffBase(limit=2)
    cause(storage, body())
    handle(storage, body())
    storage.forget("u-1")
    assert cause(storage, body(generation=2, observed=1)) == causes.Reason.CREATE
    for uid in ("u-2", "u-3"):  # two more push u-1 out
        handle(storage, body(uid=uid))
    assert cause(storage, body(generation=2, observed=2)) == causes.Reason.NOOP


def test_handled_means_the_status_observed_the_current_generation() -> None:
    assert handled(body(generation=3, observed=3))
    assert not handled(body(generation=3, observed=2))
    assert not handled(body(generation=3))


@pytest.mark.parametrize(
    ("storage", "written"),
    [
        (UnmarkedProgress(prefix="modelops.dev"), {}),
        # kopf's own: the marker is one more write of every object it first handles.
        (
            kopf.AnnotationsProgressStorage(prefix="modelops.dev"),
            {"metadata": {"annotations": {"modelops.dev/kopf-managed": "yes"}}},
        ),
    ],
)
def test_a_handler_done_at_its_first_attempt_writes_no_progress(
    storage: kopf.AnnotationsProgressStorage, written: dict[str, Any]
) -> None:
    """As kopf runs it: the handler's record stored, then purged once all are done."""
    obj, patch = body(), kopf.Patch()
    record: Any = {"started": "2026-12-03T00:00:00", "success": True, "retries": 1}
    storage.store(key=kopf.HandlerId("on_change"), record=record, body=obj, patch=patch)
    storage.flush()
    storage.purge(key=kopf.HandlerId("on_change"), body=obj, patch=patch)
    assert dict(patch) == written
