"""Pure: a rollout's analysis from the pods' per-version figures -> checks and a verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from modelops.operator.api.v1alpha1.model_deployment import Analysis, AnalysisResult

Verdict = Literal["pass", "fail", "wait"]


@dataclass
class Figures:
    """One version's counters, summed over the pods (cumulative since each pod started, and
    the pods of a rollout start with it)."""

    requests: float = 0.0
    errors: float = 0.0
    """Server errors (5xx): what the model or the runtime did wrong, not the client."""
    buckets: dict[float, float] = field(default_factory=dict)
    """Request latency histogram: upper bound in seconds -> cumulative count."""
    shadow_rows: float = 0.0
    shadow_equal: float = 0.0
    shadow_abs_diff: float = 0.0
    shadow_sum: float = 0.0
    shadow_sq_sum: float = 0.0
    shadow_errors: float = 0.0

    def add(self, other: Figures) -> None:
        for name in (
            "requests", "errors", "shadow_rows", "shadow_equal", "shadow_abs_diff",
            "shadow_sum", "shadow_sq_sum", "shadow_errors",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for bound, count in other.buckets.items():
            self.buckets[bound] = self.buckets.get(bound, 0.0) + count

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def quantile_ms(self, q: float) -> float | None:
        """The histogram's q-quantile as the upper bound of its bucket (an upper estimate),
        in milliseconds; None without requests."""
        if not self.buckets:
            return None
        total = self.buckets.get(math.inf, max(self.buckets.values()))
        if total <= 0:
            return None
        finite = sorted(b for b in self.buckets if b != math.inf)
        for bound in finite:
            if self.buckets[bound] >= q * total:
                return bound * 1000.0
        return finite[-1] * 1000.0 if finite else None

    @property
    def agreement(self) -> float | None:
        """Classifiers: the share of equal labels. Regressors (non-zero sums): 1 - the mean
        absolute difference over the stable version's standard deviation, floored at 0."""
        n = self.shadow_rows
        if not n:
            return None
        if not (self.shadow_abs_diff or self.shadow_sum or self.shadow_sq_sum):
            return self.shadow_equal / n
        mean = self.shadow_sum / n
        std = math.sqrt(max(0.0, self.shadow_sq_sum / n - mean * mean))
        if std == 0:
            return self.shadow_equal / n
        return max(0.0, 1.0 - (self.shadow_abs_diff / n) / std)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def evaluate(
    analysis: Analysis, shadow: bool, candidate: Figures, stable: Figures
) -> tuple[list[AnalysisResult], Verdict]:
    """The checks and what they decide: fail as soon as the candidate's errors exceed what
    even `minRequests` good answers could excuse; pass only with enough evidence."""
    results: list[AnalysisResult] = []
    count = candidate.shadow_rows if shadow else candidate.requests
    enough = count >= analysis.min_requests
    results.append(
        AnalysisResult(
            metric="rowsCompared" if shadow else "requests",
            value=count,
            stable_value=None if shadow else stable.requests,
            threshold=analysis.min_requests,
            passed=enough,
        )
    )
    errors = candidate.shadow_errors if shadow else candidate.errors
    # Shadow errors are per request copied, and a copy is made of each stable request.
    denominator = stable.requests if shadow else candidate.requests
    rate = errors / denominator if denominator else None
    failed = errors > analysis.max_error_rate * max(denominator, analysis.min_requests)
    results.append(
        AnalysisResult(
            metric="errorRate",
            value=_round(rate),
            stable_value=_round(stable.error_rate),
            threshold=analysis.max_error_rate,
            passed=not failed,
        )
    )
    if analysis.max_p99_latency_ms is not None and not shadow:
        p99 = candidate.quantile_ms(0.99)
        slow = enough and p99 is not None and p99 > analysis.max_p99_latency_ms
        failed = failed or slow
        results.append(
            AnalysisResult(
                metric="p99LatencyMs",
                value=_round(p99),
                stable_value=_round(stable.quantile_ms(0.99)),
                threshold=analysis.max_p99_latency_ms,
                passed=not slow,
            )
        )
    if analysis.min_agreement is not None and shadow:
        agreement = candidate.agreement
        apart = enough and agreement is not None and agreement < analysis.min_agreement
        failed = failed or apart
        results.append(
            AnalysisResult(
                metric="agreement",
                value=_round(agreement),
                threshold=analysis.min_agreement,
                passed=not apart,
            )
        )
    if failed:
        return results, "fail"
    return results, "pass" if enough else "wait"


def failures(results: list[AnalysisResult]) -> str:
    """The failed checks, for a message."""
    return "; ".join(
        f"{r.metric} {r.value} (limit {r.threshold})"
        for r in results
        if not r.passed and r.metric not in ("requests", "rowsCompared")
    )
