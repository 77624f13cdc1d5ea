"""What the data plane accepts from the response cache: only an answer this model could give."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.serving_runtime.dataplane import cached_output

ID = "fraud:7:uuid-1"
GOOD = {"v": ID, "p": [1, 0], "q": [[0.1, 0.9], [0.8, 0.2]]}


def test_a_well_formed_entry_of_this_model_is_a_hit() -> None:
    out = cached_output(GOOD, ID, rows=2, want_proba=True)
    assert out is not None
    assert out.predictions.tolist() == [1, 0] and out.probabilities.tolist() == GOOD["q"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({**GOOD, "v": "fraud:6:uuid-0"}, "another version's entry"),
        ({k: v for k, v in GOOD.items() if k != "v"}, "an entry without the model identity"),
        ({**GOOD, "p": [1, 0, 1]}, "a row count that differs from the request's"),
        ({**GOOD, "p": "1,0"}, "predictions that are no list"),
        ({**GOOD, "q": None}, "no probabilities when they are asked for"),
        ({**GOOD, "q": [[0.5, 0.5]]}, "probabilities for fewer rows"),
        ([1, 0], "no object at all"),
        (None, "nothing cached"),
    ],
)
def test_anything_else_is_a_miss(value: Any, why: str) -> None:
    assert cached_output(value, ID, rows=2, want_proba=True) is None, why


def test_probabilities_are_optional_when_not_asked_for() -> None:
    out = cached_output({"v": ID, "p": [3.5], "q": None}, ID, rows=1, want_proba=False)
    assert out is not None and out.probabilities is None
