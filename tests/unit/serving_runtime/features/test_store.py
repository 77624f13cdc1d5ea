"""FEATURE_REFS and the settings that name the store, and the refs checked against a registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelops.serving_runtime.features.store import missing_ref_problems
from modelops.serving_runtime.settings import FeatureRef, RuntimeSettings, parse_refs

# --- FEATURE_REFS and settings ------------------------------------------------------------------


def test_refs_parse_into_view_and_feature() -> None:
    refs = parse_refs(" customer_stats:avg_amount_30d, customer_stats:txn_count_7d ,")
    assert refs == [
        FeatureRef("customer_stats", "avg_amount_30d"),
        FeatureRef("customer_stats", "txn_count_7d"),
    ]
    assert str(refs[0]) == "customer_stats:avg_amount_30d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "names no feature"),
        ("avg_amount_30d", "'avg_amount_30d' is not a view:feature"),
        ("v:", "'v:' is not a view:feature"),
        ("a:x,b:x", "two features named 'x' (a:x and b:x)"),
    ],
)
def test_bad_refs_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_refs(text)


def test_settings_read_the_operators_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_URI", "models:/m/1")
    monkeypatch.setenv("FEATURE_REPO", "/feature-repo")
    monkeypatch.setenv("FEATURE_ENTITY_KEY", "customer_id")
    monkeypatch.setenv("FEATURE_REFS", "customer_stats:avg_amount_30d,customer_stats:txn_count_7d")
    s = RuntimeSettings()  # type: ignore[call-arg]
    assert s.feature_repo == "/feature-repo"
    assert s.feature_entity_key == "customer_id"
    assert s.feature_refs.split(",") == [
        "customer_stats:avg_amount_30d",
        "customer_stats:txn_count_7d",
    ]


def test_settings_without_features_and_with_bad_ones() -> None:
    s = RuntimeSettings(model_uri="models:/m/1", feature_repo="")
    assert s.feature_repo is None
    with pytest.raises(ValidationError, match="FEATURE_ENTITY_KEY is not"):
        RuntimeSettings(model_uri="m", feature_repo="/r", feature_refs="v:f")
    with pytest.raises(ValidationError, match="is not a view:feature"):
        RuntimeSettings(model_uri="m", feature_repo="/r", feature_entity_key="id", feature_refs="f")


def test_refs_are_checked_against_the_registry() -> None:
    views = {"customer_stats": (["avg_amount_30d", "txn_count_7d"], ["customer_id"])}
    refs = parse_refs("customer_stats:avg_amount_30d,customer_stats:nope,other:x")
    problems = missing_ref_problems(refs, views, "customer_id")
    assert problems == [
        "customer_stats:nope: view 'customer_stats' has no feature 'nope' (it has: "
        "avg_amount_30d, txn_count_7d)",
        "other:x: no feature view 'other' (the registry has: customer_stats)",
    ]
    wrong_key = missing_ref_problems(refs[:1], views, "account_id")
    assert wrong_key == [
        "customer_stats:avg_amount_30d: view 'customer_stats' is keyed by customer_id, not "
        "FEATURE_ENTITY_KEY 'account_id'"
    ]
