"""kstatus's Reconciling and Stalled, derived from Ready for every kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelops.operator.status import conditions as c

from ...test_docs import operator_reasons

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def ready(status: bool | None, reason: str) -> list[c.Condition]:
    return [
        c.make_condition(c.READY, status, reason, f"because {reason}", 4, NOW),
        c.make_condition("Available", True, "MinimumReplicasAvailable", "", 4, NOW),
    ]


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (True, "ModelServing", None),
        (True, "Scheduled", None),
        (False, "Suspended", None),  # on purpose: neither converging nor stuck
        (True, "Suspended", None),
        (False, "RollingOut", c.RECONCILING),
        (False, "RegistryUnavailable", c.RECONCILING),
        (None, "NotChecked", c.RECONCILING),
        (False, "KubernetesApiError", c.RECONCILING),
        (False, "PolicyViolation", c.STALLED),
        (False, "ModelNotFound", c.STALLED),
        (False, "RunFailed", c.STALLED),
        (False, "ApplyFailed", c.STALLED),
    ],
)
def test_ready_decides_which_of_reconciling_and_stalled_is_set(
    status: bool | None, reason: str, expected: str | None
) -> None:
    out = c.with_progress(ready(status, reason), 4, NOW)
    flagged = [x for x in out if x.type in (c.RECONCILING, c.STALLED)]
    seen = [(x.type, x.status, x.reason, x.message, x.observed_generation) for x in flagged]
    want = [] if expected is None else [(expected, "True", reason, f"because {reason}", 4)]
    assert seen == want


def test_a_stale_reconciling_or_stalled_is_dropped() -> None:
    stale = c.make_condition(c.STALLED, True, "PolicyViolation", "", 3, NOW)
    out = c.with_progress([*ready(True, "ModelServing"), stale], 4, NOW)
    assert [x.type for x in out] == [c.READY, "Available"]


def test_every_stalled_reason_is_one_the_operator_sets() -> None:
    assert c.STALLED_REASONS <= operator_reasons()
