"""Pure: a rollout's next state from the spec, the last status, the registry and the pods'
figures. Everything the rollout knows lives in status.rollout, so a restarted operator (or its
standby) picks the rollout up where it was: same step, same clock, no second promotion."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modelops.operator.api.v1alpha1.model_deployment import (
    AnalysisResult,
    ModelDeployment,
    ResolvedModel,
    RolloutPhase,
    RolloutStatus,
)
from modelops.operator.api.v1alpha1.schedule import duration_seconds
from modelops.operator.status.analysis import Figures, evaluate, failures

ANNOTATION = "modelops.dev/rollout"
COMMANDS = ("promote", "abort", "pause", "resume")
ACTIVE: tuple[RolloutPhase, ...] = ("Validating", "Progressing", "Paused")
# Phases in which the pods load the candidate beside the stable version.
SERVING: tuple[RolloutPhase, ...] = ("Progressing", "Paused")
# The MLflow version tag naming a rollout's outcome.
OUTCOME_TAG = "modelops.dev/rollout"


@dataclass(frozen=True)
class Traffic:
    """The split the pods apply (the runtime's TrafficConfig)."""

    revision: int = 0
    mode: str = "none"
    weight: int = 0
    key: str | None = None

    def wire(self) -> dict[str, object]:
        doc: dict[str, object] = {"revision": self.revision, "mode": self.mode}
        doc["weight"] = self.weight
        if self.key is not None:
            doc["key"] = self.key
        return doc


@dataclass(frozen=True)
class Plan:
    """What one pass does."""

    status: RolloutStatus | None
    serve: ResolvedModel | None
    """The version every pod loads as MODEL_URI (the stable one)."""
    candidate: ResolvedModel | None = None
    """The version loaded beside it during a rollout."""
    move_alias: tuple[str, str, str] | None = None
    """(model, alias, version): promotion moves model.uri's alias to the candidate."""
    tag: tuple[str, str, str] | None = None
    """(model, version, text): the outcome, as a tag on the candidate's version."""
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, reason, message)."""
    clear_command: bool = False
    """The modelops.dev/rollout annotation was acted on: remove it, so it cannot act again."""

    @property
    def active(self) -> bool:
        return self.status is not None and self.status.phase in ACTIVE

    @property
    def validating(self) -> bool:
        return self.status is not None and self.status.phase == "Validating"

    @property
    def loaded(self) -> ResolvedModel | None:
        """The candidate the pods load beside the stable version, when they do."""
        if self.status is not None and self.status.phase in SERVING:
            return self.candidate
        return None

    @property
    def traffic(self) -> Traffic:
        s = self.status
        if s is None:
            return Traffic()
        return Traffic(s.revision, s.mode, s.weight, s.key)


@dataclass(frozen=True)
class Inputs:
    stable: ResolvedModel | None
    """What the pods load as MODEL_URI now (status.model)."""
    main: ResolvedModel | None
    """model.uri as resolved now, when it can be served (None: unresolved or incompatible)."""
    candidate: ResolvedModel | None
    """rollout.candidate as resolved now (None: not set, not found or unreachable)."""
    candidate_problem: str | None = None
    """Why the candidate cannot be rolled out (its pre-flight check failed)."""
    figures: tuple[Figures, Figures] | None = None
    """(candidate, stable) from the pods, when they were read."""
    settled: bool = False
    """Every pod runs the current template and is ready."""
    validation: dict[str, object] | None = None
    """The result of this candidate's validation Job, once it finished."""
    unreachable: bool = False
    """The registry could not be asked: a rollout under way goes on with the candidate its
    status names (a registry outage is no reason to roll back)."""


def _summary(phase: str, mode: str, weight: int) -> str:
    if phase not in SERVING:
        return phase
    if mode == "shadow":
        return f"{phase} shadow"
    return f"{phase} {weight}%"


def _revision(previous: RolloutStatus | None, now: datetime) -> int:
    """Larger than any before: milliseconds since the epoch, or one more than the last."""
    return max((previous.revision + 1) if previous else 0, int(now.timestamp() * 1000))


class Rollouts:
    """One pass's decision for one ModelDeployment."""

    def __init__(self, md: ModelDeployment, inputs: Inputs, now: datetime) -> None:
        self.md = md
        self.spec = md.spec.rollout
        self.previous = md.status.rollout if md.status else None
        self.inputs = inputs
        self.now = now
        self.where = f"{md.metadata.get('namespace')}/{md.metadata.get('name')}"
        annotations = md.metadata.get("annotations") or {}
        command = annotations.get(ANNOTATION)
        self.command = command if command in COMMANDS else None

    # --- the traffic of each strategy ---------------------------------------------------

    def _stage(self, step: int) -> tuple[str, int, int, str | None]:
        """(mode, weight, duration in seconds, key) of a step."""
        r = self.spec
        if r.strategy == "Canary":
            s = r.steps[min(step, len(r.steps) - 1)]
            return "canary", s.weight, duration_seconds(s.duration), None
        if r.strategy == "Shadow":
            return "shadow", 0, duration_seconds(r.shadow.duration), None
        if r.strategy == "ABTest" and r.ab_test is not None:
            ab = r.ab_test
            return "abtest", ab.weight, duration_seconds(ab.duration), ab.key
        return "none", 0, 0, None

    def _status(self, **changes: object) -> RolloutStatus:
        base = self.previous
        assert base is not None
        merged = base.model_copy(update=changes)
        return merged.model_copy(
            update={"summary": _summary(merged.phase, merged.mode, merged.weight)}
        )

    # --- the decision ---------------------------------------------------------------------

    def candidate(self) -> ResolvedModel | None:
        i = self.inputs
        if self.spec.candidate:
            return i.candidate
        if i.main is not None and i.stable is not None and i.main.version != i.stable.version:
            return i.main
        return None

    def decide(self) -> Plan:
        i, prev = self.inputs, self.previous
        if i.stable is None:
            # The first deployment has nothing to compare with: it serves what model.uri names.
            return Plan(prev, i.main)
        if self.spec.strategy == "Direct" and not self.spec.candidate:
            return Plan(prev, i.main or i.stable)
        cand = self.candidate()
        active = prev is not None and prev.phase in ACTIVE
        if active:
            assert prev is not None
            if cand is None and i.unreachable:
                cand = ResolvedModel(
                    name=i.stable.name,
                    version=prev.candidate_version,
                    resolved_uri=prev.candidate_uri,
                )
            if cand is None:
                return self.finish("RolledBack", "the candidate no longer resolves to a version")
            if cand.version != prev.candidate_version:
                return self.start(cand, f"superseding version {prev.candidate_version}")
            return self.advance(cand)
        if cand is None or cand.version == i.stable.version:
            return self.idle()
        if prev is not None and prev.candidate_version == cand.version:
            return self.idle()  # this version's rollout already ended; a new version starts one
        return self.start(cand, "")

    def idle(self) -> Plan:
        return Plan(self.previous, self.inputs.stable, clear_command=self.command is not None)

    def start(self, cand: ResolvedModel, why: str) -> Plan:
        i = self.inputs
        assert i.stable is not None
        mode, weight, _, key = self._stage(0)
        self.previous = RolloutStatus(
            phase="Progressing",
            strategy=self.spec.strategy,
            stable_version=i.stable.version,
            candidate_version=cand.version or "",
            candidate_uri=cand.resolved_uri or "",
            step=0,
            weight=weight,
            mode=mode,
            key=key,
            revision=_revision(self.previous, self.now),
            started_at=self.now,
            step_started_at=self.now,
            message=f"{self.spec.strategy} of version {cand.version} started"
            + (f" ({why})" if why else ""),
        )
        if i.candidate_problem is not None:
            return self.finish("Failed", f"version {cand.version}: {i.candidate_problem}")
        if self.spec.validation is not None:
            status = self._status(
                phase="Validating",
                mode="none",
                weight=0,
                message=f"validating version {cand.version} on {self.spec.validation.data}",
            )
            return self.keep(status, cand, ("Normal", "RolloutStarted", status.message))
        if self.spec.strategy == "Direct":
            return self.promote(cand, "strategy Direct")
        status = self._status()
        return self.keep(status, cand, ("Normal", "RolloutStarted", status.message))

    def advance(self, cand: ResolvedModel) -> Plan:
        prev, i = self.previous, self.inputs
        assert prev is not None
        if self.command == "abort":
            return self.finish("RolledBack", "aborted by the modelops.dev/rollout annotation")
        if self.command == "promote":
            return self.promote(cand, "promoted by the modelops.dev/rollout annotation")
        if self.command == "pause" and prev.phase != "Paused":
            status = self._status(phase="Paused", message="paused by the annotation")
            return self.keep(status, cand, ("Normal", "RolloutPaused", status.message))
        if self.command == "resume" and prev.phase == "Paused":
            # The step starts over: its analysis needs a full step of evidence.
            status = self._status(
                phase="Progressing", step_started_at=self.now, message="resumed by the annotation"
            )
            return self.keep(status, cand, ("Normal", "RolloutResumed", status.message))
        if prev.phase == "Paused":
            return self.keep(prev, cand)
        if prev.phase == "Validating":
            return self.validated(cand)
        mode, weight, duration, key = self._stage(prev.step)
        if (mode, weight, key) != (prev.mode, prev.weight, prev.key):
            # The spec's weight of the current step was edited: it applies now, on the same
            # step clock.
            status = self._status(
                mode=mode,
                weight=weight,
                key=key,
                revision=_revision(prev, self.now),
                message=f"the candidate's share is now {weight}%",
            )
            return self.keep(status, cand, ("Normal", "RolloutWeightChanged", status.message))
        results, verdict = prev.analysis, "wait"
        if i.figures is not None:
            results, verdict = evaluate(self.spec.analysis, mode == "shadow", *i.figures)
        if verdict == "fail":
            self.previous = self._status(analysis=results)
            return self.finish("RolledBack", f"analysis failed: {failures(results)}")
        elapsed = self.now - prev.step_started_at >= timedelta(seconds=duration)
        waiting = ""
        if not i.settled:
            waiting = "waiting for every pod to load the candidate"
        elif not elapsed:
            ends = prev.step_started_at + timedelta(seconds=duration)
            waiting = f"step {prev.step + 1} runs until {ends:%H:%M:%S}Z"
        elif verdict == "wait":
            waiting = f"waiting for {self.spec.analysis.min_requests} requests to the candidate"
        if waiting:
            return self.keep(self._status(analysis=results, message=waiting), cand)
        last = self.spec.strategy != "Canary" or prev.step + 1 >= len(self.spec.steps)
        if not last:
            step = prev.step + 1
            status = self._enter(
                step,
                analysis=results,
                message=f"step {step + 1} of {len(self.spec.steps)}: "
                f"{self._stage(step)[1]}% to the candidate",
            )
            return self.keep(status, cand, ("Normal", "RolloutStepAdvanced", status.message))
        ab = self.spec.ab_test
        if self.spec.strategy == "ABTest" and ab is not None and ab.promotion == "Manual":
            status = self._status(
                phase="Paused",
                analysis=results,
                message="the analysis passed: promote with the modelops.dev/rollout: promote "
                "annotation, or abort",
            )
            return self.keep(status, cand, ("Normal", "RolloutAwaitingPromotion", status.message))
        self.previous = self._status(analysis=results)
        return self.promote(cand, "every check passed")

    def validated(self, cand: ResolvedModel) -> Plan:
        """The gate's outcome: traffic for a candidate that passed, Failed for one that did
        not (or whose data could not be scored)."""
        prev, result = self.previous, self.inputs.validation
        assert prev is not None
        if result is None:
            return self.keep(prev, cand)
        if result.get("error"):
            return self.finish("Failed", f"validation could not run: {result['error']}")
        checks = validation_results(result)
        if not result.get("passed"):
            why = "; ".join(
                f"{m.get('name')}: {m.get('why')}"
                for m in result.get("metrics") or []  # type: ignore[attr-defined]
                if isinstance(m, dict) and not m.get("passed")
            )
            self.previous = self._status(validation=checks)
            return self.finish("Failed", f"validation failed: {why}")
        if self.spec.strategy == "Direct":
            self.previous = self._status(validation=checks)
            return self.promote(cand, "validation passed (strategy Direct)")
        status = self._enter(
            0, validation=checks, message=f"validation passed on {result.get('rows')} rows"
        )
        return self.keep(status, cand, ("Normal", "RolloutValidated", status.message))

    def _enter(self, step: int, **changes: object) -> RolloutStatus:
        """The status of a step that starts now: its split under a new revision, its clock."""
        assert self.previous is not None
        mode, weight, _, key = self._stage(step)
        return self._status(
            phase="Progressing",
            step=step,
            mode=mode,
            weight=weight,
            key=key,
            revision=_revision(self.previous, self.now),
            step_started_at=self.now,
            **changes,
        )

    def keep(
        self, status: RolloutStatus, cand: ResolvedModel, event: tuple[str, str, str] | None = None
    ) -> Plan:
        return Plan(
            status,
            self.inputs.stable,
            cand,
            events=[event] if event else [],
            clear_command=self.command is not None,
        )

    def promote(self, cand: ResolvedModel, why: str) -> Plan:
        prev = self.previous
        assert prev is not None
        # Pods still loading both versions send everything to the candidate until they are
        # replaced by pods serving it alone.
        status = self._status(
            phase="Promoted",
            mode="canary",
            weight=100,
            revision=_revision(prev, self.now),
            finished_at=self.now,
            message=f"version {cand.version} promoted: {why}",
        )
        move = None
        uri = self.md.spec.model.uri
        if self.spec.candidate and "@" in uri and cand.name and cand.version:
            move = (cand.name, uri.rsplit("@", 1)[1], cand.version)
        return Plan(
            status,
            cand,
            None,
            move_alias=move,
            tag=self._tag(cand, f"promoted in {self.where}"),
            events=[("Normal", "RolloutPromoted", status.message)],
            clear_command=self.command is not None,
        )

    def finish(self, phase: RolloutPhase, why: str) -> Plan:
        prev = self.previous
        assert prev is not None
        status = self._status(
            phase=phase,
            mode="none",
            weight=0,
            revision=_revision(prev, self.now),
            finished_at=self.now,
            message=why,
        )
        cand = ResolvedModel(
            name=self.inputs.stable.name if self.inputs.stable else None,
            version=prev.candidate_version,
        )
        reason = "RolloutRolledBack" if phase == "RolledBack" else "RolloutFailed"
        return Plan(
            status,
            self.inputs.stable,
            None,
            tag=self._tag(cand, f"{phase.lower()} in {self.where}: {why}"),
            events=[("Warning", reason, f"version {prev.candidate_version}: {why}")],
            clear_command=self.command is not None,
        )

    def _tag(self, cand: ResolvedModel, text: str) -> tuple[str, str, str] | None:
        if not cand.name or not cand.version:
            return None
        return cand.name, cand.version, f"{text} at {self.now:%Y-%m-%dT%H:%M:%SZ}"[:5000]


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def validation_results(result: dict[str, object]) -> list[AnalysisResult]:
    """The job's metrics as status entries: the candidate's value against its bound, and its
    regression against maxRegression."""
    out = []
    for m in result.get("metrics") or []:  # type: ignore[attr-defined]
        if not isinstance(m, dict):
            continue
        bound = m.get("min") if m.get("min") is not None else m.get("max")
        why = str(m.get("why") or "")
        out.append(
            AnalysisResult(
                metric=str(m.get("name")),
                value=_num(m.get("candidate")),
                stable_value=_num(m.get("stable")),
                threshold=float(bound) if bound is not None else 0.0,
                passed="max " not in why and "min " not in why,
            )
        )
        if m.get("maxRegression") is not None:
            out.append(
                AnalysisResult(
                    metric=f"{m.get('name')}Regression",
                    value=_num(m.get("regression")),
                    threshold=float(m["maxRegression"]),
                    passed="worse than" not in why,
                )
            )
    return out[:20]


def decide(md: ModelDeployment, inputs: Inputs, now: datetime) -> Plan:
    return Rollouts(md, inputs, now).decide()


def current(md: ModelDeployment) -> Plan:
    """The plan in force, from status alone (a pass without registry calls keeps it)."""
    prev = md.status.rollout if md.status else None
    stable = md.status.model if md.status else None
    candidate = None
    if prev is not None and prev.phase in ACTIVE:
        candidate = ResolvedModel(
            uri=md.spec.rollout.candidate or md.spec.model.uri,
            resolved_uri=prev.candidate_uri,
            name=stable.name if stable else None,
            version=prev.candidate_version,
        )
    return Plan(prev, stable, candidate)
