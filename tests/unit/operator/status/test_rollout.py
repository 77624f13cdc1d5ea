"""The rollout policy: start, steps, analysis, promotion, rollback, commands, restart-safety."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment, ResolvedModel
from modelops.operator.status.analysis import Figures
from modelops.operator.status.rollout import ANNOTATION, Inputs, Plan, current, decide

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
V1 = ResolvedModel(
    uri="models:/fraud@champion", resolved_uri="models:/fraud/1", name="fraud", version="1"
)
V2 = ResolvedModel(
    uri="models:/fraud@challenger", resolved_uri="models:/fraud/2", name="fraud", version="2"
)
V3 = ResolvedModel(
    uri="models:/fraud@challenger", resolved_uri="models:/fraud/3", name="fraud", version="3"
)
CANARY = {
    "strategy": "Canary",
    "candidate": "models:/fraud@challenger",
    "steps": [{"weight": 10, "duration": "1m"}, {"weight": 50, "duration": "2m"}],
    "analysis": {"maxErrorRate": 0.01, "minRequests": 100, "maxP99LatencyMs": 100},
}


def md(
    rollout: dict[str, Any], status: dict[str, Any] | None = None, command: str | None = None
) -> ModelDeployment:
    meta: dict[str, Any] = {"name": "fraud", "namespace": "team-a", "generation": 1}
    if command:
        meta["annotations"] = {ANNOTATION: command}
    body: dict[str, Any] = {
        "metadata": meta,
        "spec": {"model": {"uri": "models:/fraud@champion"}, "rollout": rollout},
    }
    body["status"] = {"model": V1.wire(), **(status or {})}
    return ModelDeployment.model_validate(body)


def figures(requests: float, errors: float = 0, fast: bool = True) -> Figures:
    bound = 0.01 if fast else 0.5
    return Figures(
        requests=requests, errors=errors, buckets={bound: requests, float("inf"): requests}
    )


def then(m: ModelDeployment, plan: Plan) -> ModelDeployment:
    """The object after the pass wrote its status (and served what the plan says)."""
    status = {"model": (plan.serve or V1).wire()}
    if plan.status is not None:
        status["rollout"] = plan.status.wire()
    return ModelDeployment.model_validate(
        {**m.model_dump(by_alias=True, exclude_none=True), "status": status}
    )


def run(m: ModelDeployment, now: datetime, cand: ResolvedModel | None = V2, **kw: Any) -> Plan:
    stable = m.status.model if m.status else None
    return decide(m, Inputs(stable, stable, cand, **kw), now)


def test_a_new_candidate_starts_a_canary_at_the_first_weight_with_the_stable_untouched() -> None:
    plan = run(md(CANARY), T0)
    assert plan.status is not None and plan.status.phase == "Progressing"
    assert (plan.status.step, plan.status.weight, plan.status.mode) == (0, 10, "canary")
    assert plan.serve == V1 and plan.candidate == V2
    assert plan.traffic.weight == 10 and plan.traffic.revision > 0
    assert plan.status.summary == "Progressing 10%"
    assert [e[1] for e in plan.events] == ["RolloutStarted"]


def test_nothing_happens_while_the_candidate_is_the_stable_version() -> None:
    plan = run(md(CANARY), T0, cand=V1)
    assert plan.status is None and plan.serve == V1 and plan.candidate is None


def test_a_step_passes_only_after_its_duration_with_enough_requests() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    early = run(m, T0 + timedelta(seconds=30), figures=(figures(500), figures(5000)), settled=True)
    assert (
        early.status is not None and early.status.step == 0 and "runs until" in early.status.message
    )
    quiet = run(m, T0 + timedelta(minutes=2), figures=(figures(20), figures(200)), settled=True)
    assert (
        quiet.status is not None
        and quiet.status.step == 0
        and "waiting for 100" in quiet.status.message
    )
    unsettled = run(
        m, T0 + timedelta(minutes=2), figures=(figures(500), figures(5000)), settled=False
    )
    assert unsettled.status is not None and unsettled.status.step == 0
    ok = run(m, T0 + timedelta(minutes=2), figures=(figures(500), figures(5000)), settled=True)
    assert ok.status is not None and (ok.status.step, ok.status.weight) == (1, 50)
    assert ok.traffic.revision > m.status.rollout.revision  # type: ignore[union-attr]
    assert all(r.passed for r in ok.status.analysis)


def test_the_last_step_promotes_and_moves_the_alias() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    m = then(
        m, run(m, T0 + timedelta(minutes=2), figures=(figures(500), figures(5000)), settled=True)
    )
    plan = run(m, T0 + timedelta(minutes=5), figures=(figures(2000), figures(5000)), settled=True)
    assert plan.status is not None and plan.status.phase == "Promoted"
    assert plan.serve == V2 and plan.candidate is None
    assert plan.move_alias == ("fraud", "champion", "2")
    assert plan.tag is not None and plan.tag[:2] == ("fraud", "2") and "promoted" in plan.tag[2]
    again = run(then(m, plan), T0 + timedelta(minutes=6), cand=V2)
    assert again.move_alias is None and again.status == plan.status, "promoted once"


def test_errors_roll_back_at_once_even_before_the_step_ends() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    plan = run(
        m, T0 + timedelta(seconds=10), figures=(figures(50, errors=5), figures(500)), settled=False
    )
    assert plan.status is not None and plan.status.phase == "RolledBack"
    assert plan.serve == V1 and plan.candidate is None and plan.traffic.weight == 0
    assert "errorRate" in plan.status.message and plan.move_alias is None
    assert plan.tag is not None and plan.tag[1] == "2" and "rolledback" in plan.tag[2]
    assert [e[:2] for e in plan.events] == [("Warning", "RolloutRolledBack")]
    after = run(then(m, plan), T0 + timedelta(minutes=1))
    assert after.status == plan.status and after.candidate is None, (
        "the same version is not retried"
    )
    fresh = run(then(m, plan), T0 + timedelta(minutes=1), cand=V3)
    assert fresh.status is not None and fresh.status.phase == "Progressing"
    assert fresh.status.candidate_version == "3"


def test_a_slow_candidate_fails_its_p99() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    plan = run(
        m,
        T0 + timedelta(seconds=70),
        figures=(figures(200, fast=False), figures(2000)),
        settled=True,
    )
    assert plan.status is not None and plan.status.phase == "RolledBack"
    assert "p99LatencyMs 500.0" in plan.status.message


@pytest.mark.parametrize(
    ("command", "phase"), [("abort", "RolledBack"), ("promote", "Promoted"), ("pause", "Paused")]
)
def test_commands_act_once_and_are_cleared(command: str, phase: str) -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    commanded = md(CANARY, {"rollout": m.status.rollout.wire()}, command)  # type: ignore[union-attr]
    plan = run(commanded, T0 + timedelta(seconds=5))
    assert plan.status is not None and plan.status.phase == phase
    assert plan.clear_command


def test_a_paused_rollout_holds_its_weight_until_resumed_and_restarts_the_step_clock() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    paused = then(m, run(md(CANARY, {"rollout": m.status.rollout.wire()}, "pause"), T0))  # type: ignore[union-attr]
    held = run(
        paused, T0 + timedelta(hours=1), figures=(figures(5000), figures(5000)), settled=True
    )
    assert held.status is not None and held.status.phase == "Paused" and held.traffic.weight == 10
    resumed = run(
        md(CANARY, {"rollout": paused.status.rollout.wire()}, "resume"), T0 + timedelta(hours=2)
    )  # type: ignore[union-attr]
    assert resumed.status is not None and resumed.status.phase == "Progressing"
    assert resumed.status.step_started_at == T0 + timedelta(hours=2)


def test_a_restart_resumes_from_status_alone() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    m = then(
        m, run(m, T0 + timedelta(minutes=2), figures=(figures(500), figures(5000)), settled=True)
    )
    plan = current(m)
    assert plan.status is not None and plan.status.step == 1 and plan.candidate is not None
    assert plan.candidate.resolved_uri == "models:/fraud/2" and plan.traffic.weight == 50


def test_a_candidate_that_moves_mid_rollout_starts_over_and_one_that_vanishes_rolls_back() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    moved = run(m, T0 + timedelta(seconds=30), cand=V3)
    assert (
        moved.status is not None
        and moved.status.candidate_version == "3"
        and moved.status.step == 0
    )
    gone = run(m, T0 + timedelta(seconds=30), cand=None)
    assert gone.status is not None and gone.status.phase == "RolledBack"


def test_shadow_is_gated_on_agreement() -> None:
    spec = {
        "strategy": "Shadow",
        "candidate": "models:/fraud@challenger",
        "shadow": {"duration": "1m"},
        "analysis": {"minRequests": 100, "minAgreement": 0.9},
    }
    m = then(md(spec), run(md(spec), T0))
    assert (
        m.status is not None and m.status.rollout is not None and m.status.rollout.mode == "shadow"
    )
    agree = Figures(shadow_rows=1000, shadow_equal=950)
    ok = run(m, T0 + timedelta(minutes=2), figures=(agree, figures(1000)), settled=True)
    assert ok.status is not None and ok.status.phase == "Promoted"
    apart = Figures(shadow_rows=1000, shadow_equal=800)
    bad = run(m, T0 + timedelta(minutes=2), figures=(apart, figures(1000)), settled=True)
    assert bad.status is not None and bad.status.phase == "RolledBack"
    assert "agreement 0.8" in bad.status.message


def test_an_ab_test_with_manual_promotion_waits_for_the_annotation() -> None:
    spec = {
        "strategy": "ABTest",
        "candidate": "models:/fraud@challenger",
        "abTest": {"key": "header:X-User-Id", "weight": 30, "duration": "1h"},
    }
    m = then(md(spec), run(md(spec), T0))
    assert m.status is not None and m.status.rollout is not None
    assert (m.status.rollout.mode, m.status.rollout.weight, m.status.rollout.key) == (
        "abtest",
        30,
        "header:X-User-Id",
    )
    done = run(m, T0 + timedelta(hours=2), figures=(figures(500), figures(500)), settled=True)
    assert done.status is not None and done.status.phase == "Paused" and done.move_alias is None
    promoted = run(md(spec, {"rollout": done.status.wire()}, "promote"), T0 + timedelta(hours=3))
    assert promoted.status is not None and promoted.status.phase == "Promoted"


def test_without_a_candidate_alias_a_moved_model_alias_is_rolled_out() -> None:
    spec = {"strategy": "Canary", "steps": [{"weight": 20, "duration": "1m"}]}
    m = md(spec)
    plan = decide(m, Inputs(V1, V2, None), T0)
    assert plan.status is not None and plan.status.candidate_version == "2" and plan.serve == V1
    m = then(m, plan)
    done = decide(
        m,
        Inputs(V1, V2, None, figures=(figures(500), figures(500)), settled=True),
        T0 + timedelta(minutes=2),
    )
    assert done.status is not None and done.status.phase == "Promoted"
    assert done.serve == V2 and done.move_alias is None, "the alias already names it"


def test_direct_keeps_todays_behaviour_and_an_unloadable_candidate_fails() -> None:
    direct = decide(md({"strategy": "Direct"}), Inputs(V1, V2, None), T0)
    assert direct.status is None and direct.serve == V2
    failed = run(md(CANARY), T0, candidate_problem="the runtime cannot load it: sklearn 0.2")
    assert failed.status is not None and failed.status.phase == "Failed" and failed.serve == V1


def test_an_edited_weight_of_the_current_step_applies_at_once_on_the_same_clock() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    edited = {**CANARY, "steps": [{"weight": 40, "duration": "1m"}, CANARY["steps"][1]]}
    m2 = md(edited, {"rollout": m.status.rollout.wire()})  # type: ignore[union-attr]
    plan = run(m2, T0 + timedelta(seconds=20))
    assert plan.status is not None and (plan.status.step, plan.status.weight) == (0, 40)
    assert plan.traffic.revision > m.status.rollout.revision  # type: ignore[union-attr]
    assert plan.status.step_started_at == T0


VALIDATED = {
    **CANARY,
    "validation": {
        "data": "s3://bucket/holdout.parquet",
        "target": "label",
        "metrics": [{"name": "accuracy", "min": 0.85, "maxRegression": 0.01}],
    },
}


def gate(passed: bool, candidate: float, why: str = "") -> dict[str, Any]:
    metric = {
        "name": "accuracy", "candidate": candidate, "stable": 0.9, "regression": 0.9 - candidate,
        "min": 0.85, "maxRegression": 0.01, "passed": passed, "why": why,
    }  # fmt: skip
    return {"passed": passed, "rows": 500, "metrics": [metric], "error": None}


def test_validation_runs_before_any_traffic_and_a_pass_starts_the_first_step() -> None:
    plan = run(md(VALIDATED), T0)
    assert plan.status is not None and plan.status.phase == "Validating" and plan.validating
    assert plan.loaded is None and plan.traffic.weight == 0, "the pods do not load it yet"
    m = then(md(VALIDATED), plan)
    waiting = run(m, T0 + timedelta(minutes=1))
    assert waiting.status is not None and waiting.status.phase == "Validating"
    passed = run(m, T0 + timedelta(minutes=2), validation=gate(True, 0.92))
    assert passed.status is not None and passed.status.phase == "Progressing"
    assert (passed.status.weight, passed.status.step_started_at) == (10, T0 + timedelta(minutes=2))
    assert passed.loaded == V2 and [e[1] for e in passed.events] == ["RolloutValidated"]
    assert passed.status.validation is not None
    assert [(c.metric, c.value, c.passed) for c in passed.status.validation] == [
        ("accuracy", 0.92, True),
        ("accuracyRegression", pytest.approx(-0.02), True),
    ]


def test_a_candidate_below_the_gate_never_takes_traffic() -> None:
    m = then(md(VALIDATED), run(md(VALIDATED), T0))
    why = "0.8000 < min 0.85; 0.1000 worse than the stable version's 0.9000 (maxRegression 0.01)"
    plan = run(m, T0 + timedelta(minutes=2), validation=gate(False, 0.8, why))
    assert plan.status is not None and plan.status.phase == "Failed"
    assert plan.serve == V1 and plan.loaded is None and plan.traffic.weight == 0
    assert "validation failed: accuracy: 0.8000 < min 0.85" in plan.status.message
    assert plan.tag is not None and "failed" in plan.tag[2]
    assert [e[:2] for e in plan.events] == [("Warning", "RolloutFailed")]
    assert plan.status.validation is not None and not plan.status.validation[0].passed
    broken = run(m, T0 + timedelta(minutes=2), validation={"error": "could not download"})
    assert broken.status is not None and broken.status.phase == "Failed"
    assert "validation could not run: could not download" in broken.status.message


def test_a_registry_outage_mid_rollout_is_no_reason_to_roll_back() -> None:
    m = then(md(CANARY), run(md(CANARY), T0))
    later = T0 + timedelta(minutes=2)
    down = decide(
        m,
        Inputs(
            V1, None, None, figures=(figures(500), figures(5000)), settled=True, unreachable=True
        ),
        later,
    )
    assert down.status is not None and down.status.phase == "Progressing" and down.status.step == 1
    assert down.loaded is not None and down.loaded.resolved_uri == "models:/fraud/2"
    gone = decide(m, Inputs(V1, V1, None), later)
    assert gone.status is not None and gone.status.phase == "RolledBack", "the alias was removed"
