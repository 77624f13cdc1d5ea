"""The performance job's parts: rules, joining late labels, and Evidently's scores judged
against thresholds (checked against scikit-learn's own values)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from modelops.serving_runtime.errors import JobError
from modelops.serving_runtime.jobs import performance
from modelops.serving_runtime.jobs.performance import Rule


def test_rules_parse() -> None:
    rules = performance.parse_rules(
        '[{"name": "accuracy", "min": 0.85}, {"name": "f1", "min": 0.5, "max": 1}]'
    )
    assert rules == [Rule("accuracy", 0.85), Rule("f1", 0.5, 1.0)]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[{", "not JSON"),
        ("[]", "non-empty JSON list"),
        ('{"name": "accuracy", "min": 1}', "non-empty JSON list"),
        ('[{"name": "auc", "min": 0.5}]', "names one of"),
        ('[{"name": "accuracy"}]', "neither min nor max"),
        ('[{"name": "accuracy", "min": 0.9, "max": 0.8}]', "min 0.9 > max 0.8"),
        ('[{"name": "rmse", "max": "3"}]', "max '3' is not a number"),
        ('[{"name": "rmse", "max": true}]', "is not a number"),
        ('[{"name": "rmse", "maximum": 3}]', "unknown keys maximum"),
    ],
)
def test_bad_rules_are_named(text: str, problem: str) -> None:
    with pytest.raises(JobError, match=problem):
        performance.parse_rules(text)


def predictions(ids: list[object], values: list[object], **columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "prediction": values, **columns})


def test_a_later_label_corrects_an_earlier_one() -> None:
    preds = predictions(["a", "b"], [1, 0], ts=[1.0, 2.0], x=[0.1, 0.2])
    # Out of order on purpose: the largest ts wins, not the last row.
    labels = pd.DataFrame({"id": ["a", "a", "a"], "label": [0, 1, 0], "ts": [10.0, 30.0, 20.0]})
    joined, counts = performance.join(preds, labels)
    assert joined[["id", "prediction", "label", "x"]].to_dict("records") == [
        {"id": "a", "prediction": 1, "label": 1, "x": 0.1}
    ]
    assert counts == {"predictions": 2, "labelled": 1, "unlabelled": 1, "orphanLabels": 0}


def test_predictions_without_a_label_or_an_id_are_left_out() -> None:
    preds = predictions(["a", None, "c", "d"], [1, 0, 1, 0])
    labels = pd.DataFrame({"id": ["a", "d"], "label": [1, None], "ts": [1.0, 2.0]})
    joined, counts = performance.join(preds, labels)
    assert joined["id"].tolist() == ["a"]
    assert counts == {"predictions": 4, "labelled": 1, "unlabelled": 3, "orphanLabels": 0}


def test_orphan_labels_are_counted_once_per_id() -> None:
    preds = predictions(["a"], [1])
    labels = pd.DataFrame(
        {"id": ["a", "x", "x", "y"], "label": [1, 0, 1, 0], "ts": [1.0, 2.0, 3.0, 4.0]}
    )
    joined, counts = performance.join(preds, labels)
    assert len(joined) == 1
    assert counts["orphanLabels"] == 2


def test_ids_meet_whatever_their_type() -> None:
    # The log holds JSON strings; labels read from parquet with a gap hold floats.
    joined, counts = performance.join(
        predictions(["7", "8"], [1, 0]), pd.DataFrame({"id": [7.0, 8.0], "label": [1, 1]})
    )
    assert joined["label"].tolist() == [1, 1] and counts["labelled"] == 2


@pytest.mark.parametrize(
    ("preds", "labels"),
    [
        (pd.DataFrame(), pd.DataFrame()),
        (predictions(["a"], [1]), pd.DataFrame()),
        (pd.DataFrame(), pd.DataFrame({"id": ["a"], "label": [1], "ts": [1.0]})),
        (pd.DataFrame(columns=["id", "prediction"]), pd.DataFrame(columns=["id", "label", "ts"])),
    ],
)
def test_empty_inputs_join_to_nothing(preds: pd.DataFrame, labels: pd.DataFrame) -> None:
    joined, counts = performance.join(preds, labels)
    assert len(joined) == 0
    assert counts == {
        "predictions": len(preds),
        "labelled": 0,
        "unlabelled": len(preds),
        "orphanLabels": len(labels),
    }


def binary(rows: int = 100, wrong: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    prediction = label.copy()
    prediction[:wrong] = 1 - prediction[:wrong]
    return pd.DataFrame(
        {"id": [str(i) for i in range(rows)], "prediction": prediction, "label": label}
    )


def metric(result: dict[str, object], name: str) -> dict[str, object]:
    entries = result["metrics"]
    assert isinstance(entries, list)
    return next(m for m in entries if m["name"] == name)


def test_binary_classification_scores_as_scikit_learn_does() -> None:
    joined = binary()
    rules = [Rule(n, min=0.0) for n in ("accuracy", "precision", "recall", "f1")]
    result = performance.evaluate(joined, rules, min_labels=10)
    y, p = joined["label"], joined["prediction"]
    assert metric(result, "accuracy")["value"] == 0.8  # 80 of 100 right
    assert metric(result, "accuracy")["value"] == round(sk.accuracy_score(y, p), 6)
    assert metric(result, "precision")["value"] == pytest.approx(sk.precision_score(y, p))
    assert metric(result, "recall")["value"] == pytest.approx(sk.recall_score(y, p))
    assert metric(result, "f1")["value"] == pytest.approx(sk.f1_score(y, p))
    assert result["task"] == "classification" and result["labelled"] == 100
    assert result["degraded"] is False and result["reason"] == "WithinThresholds"


def test_a_metric_below_its_min_is_a_breach() -> None:
    result = performance.evaluate(binary(), [Rule("accuracy", min=0.85)], min_labels=10)
    assert result["degraded"] is True and result["reason"] == "Breached"
    assert metric(result, "accuracy")["passed"] is False
    assert "accuracy 0.8 < min 0.85" in str(result["message"])


def test_a_metric_within_its_bounds_passes() -> None:
    result = performance.evaluate(binary(), [Rule("accuracy", min=0.75, max=0.9)], min_labels=10)
    assert result["degraded"] is False and result["reason"] == "WithinThresholds"
    assert metric(result, "accuracy") == {
        "name": "accuracy",
        "value": 0.8,
        "min": 0.75,
        "max": 0.9,
        "passed": True,
    }


def test_a_metric_above_its_max_is_a_breach() -> None:
    result = performance.evaluate(binary(), [Rule("accuracy", max=0.7)], min_labels=10)
    assert result["degraded"] is True
    assert "accuracy 0.8 > max 0.7" in str(result["message"])


@pytest.mark.parametrize("rows", [0, 9])
def test_too_few_labels_is_not_a_pass(rows: int) -> None:
    result = performance.evaluate(binary(rows, wrong=0), [Rule("accuracy", min=0.5)], 10)
    assert result["degraded"] is None and result["reason"] == "TooFewLabels"
    assert result["metrics"] == [] and result["labelled"] == rows and result["minLabels"] == 10


def test_no_labels_is_too_few_even_when_none_are_required() -> None:
    result = performance.evaluate(binary(0), [Rule("accuracy", min=0.5)], min_labels=0)
    assert result["reason"] == "TooFewLabels"


def test_string_classes_and_text_labels_meet() -> None:
    joined = pd.DataFrame({"prediction": ["yes", "no", "yes", "no"], "label": ["yes"] * 4})
    result = performance.evaluate(joined, [Rule("accuracy", min=0.5)], min_labels=1)
    assert metric(result, "accuracy")["value"] == 0.5
    # Labels read as numbers meet predictions logged as text.
    joined = pd.DataFrame({"prediction": ["1", "0", "1", "1"], "label": [1.0, 0.0, 0.0, 1.0]})
    result = performance.evaluate(joined, [Rule("accuracy", min=0.5)], min_labels=1)
    assert metric(result, "accuracy")["value"] == 0.75


def test_regression_scores_as_scikit_learn_does() -> None:
    rng = np.random.default_rng(1)
    label = rng.normal(10, 3, 200)
    prediction = label + rng.normal(0.5, 1, 200)
    joined = pd.DataFrame({"prediction": prediction, "label": label})
    rules = [Rule("rmse", max=2.0), Rule("mae", max=0.1), Rule("r2", min=0.5)]
    result = performance.evaluate(joined, rules, min_labels=10)
    assert result["task"] == "regression"
    rmse = math.sqrt(sk.mean_squared_error(label, prediction))
    assert metric(result, "rmse")["value"] == pytest.approx(rmse, abs=1e-6)
    assert metric(result, "mae")["value"] == pytest.approx(
        sk.mean_absolute_error(label, prediction), abs=1e-6
    )
    assert metric(result, "r2")["value"] == pytest.approx(sk.r2_score(label, prediction), abs=1e-6)
    assert [metric(result, n)["passed"] for n in ("rmse", "mae", "r2")] == [True, False, True]
    assert result["degraded"] is True
    assert str(result["message"]).startswith("mae ")


def test_regression_rejects_values_that_are_not_numbers() -> None:
    joined = pd.DataFrame({"prediction": [1.0, 2.0], "label": [1.0, "cat"]})
    with pytest.raises(JobError, match="1 of 2 labelled rows"):
        performance.evaluate(joined, [Rule("rmse", max=1)], min_labels=1)


def test_multiclass_uses_the_macro_average() -> None:
    rng = np.random.default_rng(2)
    label = rng.choice(["cat", "dog", "fish"], 90)
    prediction = label.copy()
    prediction[:30] = rng.choice(["cat", "dog", "fish"], 30)
    joined = pd.DataFrame({"prediction": prediction, "label": label})
    rules = [Rule(n, min=0.0) for n in ("accuracy", "precision", "recall", "f1")]
    result = performance.evaluate(joined, rules, min_labels=10)
    assert metric(result, "accuracy")["value"] == pytest.approx(
        sk.accuracy_score(label, prediction)
    )
    for name, score in (
        ("precision", sk.precision_score),
        ("recall", sk.recall_score),
        ("f1", sk.f1_score),
    ):
        expected = score(label, prediction, average="macro")
        assert metric(result, name)["value"] == pytest.approx(expected, abs=1e-6)
        # The weighted average differs here: the test tells the two apart.
        assert score(label, prediction, average="weighted") != pytest.approx(expected, abs=1e-6)


def test_roc_auc_from_logged_probabilities() -> None:
    rng = np.random.default_rng(3)
    label = rng.integers(0, 2, 100)
    positive = np.clip(label * 0.3 + rng.random(100) * 0.7, 0, 1)
    # The served prediction is not the 0.5 cut of the probabilities: accuracy reads the former.
    prediction = label.copy()
    prediction[:10] = 1 - prediction[:10]
    joined = pd.DataFrame(
        {
            "prediction": prediction,
            "label": label,
            "probabilities": [[1 - q, q] for q in positive],
        }
    )
    result = performance.evaluate(
        joined, [Rule("roc_auc", min=0.5), Rule("accuracy", min=0.5)], min_labels=10
    )
    assert metric(result, "roc_auc")["value"] == pytest.approx(
        sk.roc_auc_score(label, positive), abs=1e-6
    )
    assert metric(result, "roc_auc")["passed"] is True
    assert metric(result, "accuracy")["value"] == 0.9


def test_roc_auc_for_several_classes() -> None:
    rng = np.random.default_rng(4)
    label = rng.integers(0, 3, 90)
    probabilities = rng.dirichlet([1, 1, 1], 90)
    probabilities[np.arange(90), label] += 0.5
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    joined = pd.DataFrame(
        {
            "prediction": probabilities.argmax(axis=1),
            "label": label,
            "probabilities": list(probabilities),
        }
    )
    result = performance.evaluate(joined, [Rule("roc_auc", min=0.5)], min_labels=10)
    expected = sk.roc_auc_score(label, probabilities, multi_class="ovr", average="macro")
    assert metric(result, "roc_auc")["value"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("probabilities", "why"),
    [
        (None, "^the prediction log holds no probabilities$"),
        ([None] * 100, "^the prediction log holds no probabilities$"),
        ([[0.4, 0.6]] * 99 + [None], "no probabilities for 1 of 100"),
        ([[0.2, 0.3, 0.5]] * 100, "hold 3 classes, the labels and predictions 2"),
    ],
)
def test_roc_auc_without_probabilities_is_not_computed(
    probabilities: list[object] | None, why: str
) -> None:
    joined = binary()
    if probabilities is not None:
        joined["probabilities"] = probabilities
    rules = [Rule("roc_auc", min=0.9), Rule("accuracy", min=0.5)]
    result = performance.evaluate(joined, rules, min_labels=10)
    entry = metric(result, "roc_auc")
    assert entry["value"] is None and entry["passed"] is None
    assert re.search(why, str(entry["message"]))
    # The metrics that can be computed still are; a missing one is no breach and no pass.
    assert metric(result, "accuracy")["value"] == 0.8
    assert result["degraded"] is None and result["reason"] == "NotComputed"
    assert "1 of 2 metrics within thresholds" in str(result["message"])
    assert "not computed: roc_auc" in str(result["message"])


def test_a_value_evidently_cannot_compute_is_not_a_crash() -> None:
    # R² of a single row is undefined: Evidently returns NaN.
    joined = pd.DataFrame({"prediction": [2.0], "label": [1.0]})
    result = performance.evaluate(joined, [Rule("r2", min=0.5), Rule("rmse", max=2)], 1)
    assert metric(result, "r2")["passed"] is None and metric(result, "r2")["value"] is None
    assert "could not compute r2" in str(metric(result, "r2")["message"])
    assert metric(result, "rmse")["value"] == 1.0


def test_rules_mixing_kinds_are_rejected() -> None:
    rules = [Rule("accuracy", min=0.5), Rule("rmse", max=1)]
    with pytest.raises(JobError, match="mix classification metrics .accuracy. with regression"):
        performance.evaluate(binary(), rules, min_labels=10)


def test_a_task_that_contradicts_the_rules_is_rejected() -> None:
    with pytest.raises(JobError, match="the task is regression, but the rules name classification"):
        performance.evaluate(binary(), [Rule("accuracy", min=0.5)], 10, task="regression")
    with pytest.raises(JobError, match="is not one of"):
        performance.evaluate(binary(), [Rule("accuracy", min=0.5)], 10, task="ranking")


def test_judge_names_every_breach() -> None:
    rules = [Rule("accuracy", min=0.85), Rule("f1", min=0.8), Rule("precision", max=0.99)]
    verdict = performance.judge(rules, {"accuracy": 0.71, "f1": 0.5, "precision": 0.9}, 50)
    assert verdict["degraded"] is True
    assert (
        verdict["message"]
        == "accuracy 0.71 < min 0.85; f1 0.5 < min 0.8, on 50 labelled predictions"
    )


def test_read_scores_takes_mae_mean_and_flags_nan() -> None:
    doc = {
        "metrics": [
            {"config": {"type": "evidently:metric_v2:MAE"}, "value": {"mean": 1.5, "std": 0.2}},
            {"config": {"type": "evidently:metric_v2:R2Score"}, "value": float("nan")},
            {"config": {"type": "evidently:metric_v2:RMSE"}, "value": 2.0},
        ]
    }
    scores = performance.read_scores(doc)
    assert scores["mae"] == 1.5 and scores["rmse"] == 2.0
    assert isinstance(scores["r2"], str)
