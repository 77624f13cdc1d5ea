"""The analysis checks: error budget, p99, evidence, agreement of labels and of numbers."""

from __future__ import annotations

import math

import pytest

from modelops.operator.api.v1alpha1.model_deployment import Analysis
from modelops.operator.status.analysis import Figures, evaluate, failures


def hist(**counts: float) -> dict[float, float]:
    """Cumulative buckets from {"b5": n, ...} (milliseconds)."""
    return {float(k[1:]) / 1000 if k != "inf" else math.inf: v for k, v in counts.items()}


def test_the_p99_is_the_upper_bound_of_its_bucket() -> None:
    f = Figures(requests=100, buckets=hist(b5=90, b10=98, b50=100, inf=100))
    assert f.quantile_ms(0.99) == 50.0 and f.quantile_ms(0.9) == 5.0
    assert Figures().quantile_ms(0.99) is None


def test_errors_fail_as_soon_as_min_requests_could_not_excuse_them() -> None:
    a = Analysis(max_error_rate=0.01, min_requests=200)
    assert evaluate(a, False, Figures(requests=10, errors=2), Figures())[1] == "wait"
    assert evaluate(a, False, Figures(requests=10, errors=3), Figures())[1] == "fail"
    results, verdict = evaluate(a, False, Figures(requests=1000, errors=10), Figures())
    assert verdict == "pass" and results[1].value == 0.01
    results, verdict = evaluate(a, False, Figures(requests=1000, errors=11), Figures())
    assert verdict == "fail" and failures(results) == "errorRate 0.011 (limit 0.01)"


def test_latency_is_judged_only_on_enough_requests() -> None:
    a = Analysis(max_p99_latency_ms=100, min_requests=50)
    slow = hist(b250=10, inf=10)
    assert evaluate(a, False, Figures(requests=10, buckets=slow), Figures())[1] == "wait"
    slow = hist(b250=60, inf=60)
    assert evaluate(a, False, Figures(requests=60, buckets=slow), Figures())[1] == "fail"


@pytest.mark.parametrize(
    ("figures", "expected"),
    [
        (Figures(shadow_rows=100, shadow_equal=93), 0.93),  # labels
        # Regressor: stable predictions with std 2 (sum 0, squares 4/row), mean |diff| 0.5.
        (Figures(shadow_rows=100, shadow_abs_diff=50, shadow_sum=0, shadow_sq_sum=400), 0.75),
        (Figures(shadow_rows=100, shadow_abs_diff=500, shadow_sum=0, shadow_sq_sum=400), 0.0),
        (Figures(), None),
    ],
)
def test_agreement(figures: Figures, expected: float | None) -> None:
    assert figures.agreement == (pytest.approx(expected) if expected is not None else None)


def test_shadow_counts_rows_compared_and_gates_on_agreement() -> None:
    a = Analysis(min_requests=100, min_agreement=0.9)
    stable = Figures(requests=200)
    results, verdict = evaluate(a, True, Figures(shadow_rows=50, shadow_equal=50), stable)
    assert verdict == "wait" and results[0].metric == "rowsCompared"
    assert evaluate(a, True, Figures(shadow_rows=200, shadow_equal=170), stable)[1] == "fail"
    assert evaluate(a, True, Figures(shadow_rows=200, shadow_equal=190), stable)[1] == "pass"
    broken = Figures(shadow_rows=200, shadow_equal=200, shadow_errors=50)
    assert evaluate(a, True, broken, stable)[1] == "fail"
