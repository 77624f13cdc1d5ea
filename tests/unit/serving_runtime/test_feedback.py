"""Prediction ids and the parsing of labels: what POST /feedback refuses, and why."""

from __future__ import annotations

import pytest

from modelops.serving_runtime.errors import InvalidInput
from modelops.serving_runtime.feedback import Label, parse, request_id, row_ids


def test_a_request_without_an_id_gets_a_new_one_each_time() -> None:
    first, second = request_id(None), request_id("")
    assert first != second
    assert len(first) == 32 and first.isalnum()


@pytest.mark.parametrize("own", ["order-42.retry_1", "trace=ab/cd:7", "x" * 128])
def test_a_clients_own_id_is_kept(own: str) -> None:
    assert request_id(own) == own


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "é", "tab\there"])
def test_an_id_that_cannot_be_one_is_replaced_not_refused(bad: str) -> None:
    """A proxy's id must not fail scoring; the answer's X-Prediction-Id names the new one."""
    replaced = request_id(bad)
    assert replaced != bad and len(replaced) == 32


def test_rows_of_a_larger_request_are_numbered_from_zero() -> None:
    assert row_ids("abc", 1) == ["abc"]
    assert row_ids("abc", 3) == ["abc:0", "abc:1", "abc:2"]


def test_one_label_or_a_list() -> None:
    assert parse({"id": "abc", "label": 1}) == [Label("abc", 1)]
    assert parse([{"id": "abc:0", "label": "fraud"}, {"id": "abc:1", "label": False}]) == [
        Label("abc:0", "fraud"),
        Label("abc:1", False),
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "no labels"),
        ([{"id": "a", "label": 1}, 3], "item 1 is not an object"),
        ({"id": "a"}, "the body: label must be"),
        ({"id": "a", "label": None}, "label must be"),
        ({"id": "a", "label": [1]}, "label must be"),
        ({"id": "a b", "label": 1}, "id must be a prediction id"),
        ({"id": "x" * 129, "label": 1}, "id must be a prediction id"),
        ({"id": 7, "label": 1}, "id must be a prediction id"),
        ({"id": "a", "label": 1, "weight": 2}, "unknown fields: weight"),
        ({"id": "a", "label": "x" * 300}, "longer than 256"),
        ([{"id": "a", "label": 1}] * 10_001, "at most 10000"),
    ],
)
def test_a_bad_item_names_itself(doc: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse(doc)
