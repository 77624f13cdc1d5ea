"""The validation job: metrics and gates, and a whole run on two saved models and a holdout."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelops.serving_runtime.errors import JobError
from modelops.serving_runtime.jobs import validate


def test_gates_bound_the_value_and_the_regression_each_way() -> None:
    g = validate.Gate("accuracy", min=0.8, max_regression=0.01)
    assert validate.judge(g, 0.9, 0.905)["passed"]
    worse = validate.judge(g, 0.85, 0.9)
    assert not worse["passed"] and "0.0500 worse" in worse["why"] and worse["regression"] == 0.05
    assert "< min 0.8" in validate.judge(g, 0.7, None)["why"]
    rmse = validate.Gate("rmse", max=2.0, max_regression=0.1)
    assert validate.judge(rmse, 1.5, 1.45)["passed"], "a lower rmse is better"
    assert not validate.judge(rmse, 1.7, 1.5)["passed"]
    assert not validate.judge(rmse, 2.5, None)["passed"]


def test_metrics_of_labels_probabilities_and_numbers() -> None:
    y, pred = [0, 1, 1, 0], [0, 1, 0, 0]
    assert validate.measure("accuracy", y, pred, None) == 0.75
    assert validate.measure("precision", y, pred, None) == 1.0
    assert validate.measure("recall", y, pred, None) == 0.5
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    assert validate.measure("roc_auc", y, pred, proba) == 1.0
    with pytest.raises(JobError, match="needs class probabilities"):
        validate.measure("roc_auc", y, pred, None)
    assert validate.measure("mae", [1.0, 2.0], [2.0, 2.0], None) == 0.5
    assert validate.measure("rmse", [0.0, 0.0], [3.0, 4.0], None) == pytest.approx(3.5355, 1e-3)


@pytest.mark.parametrize("bad", ["[]", "{}", "not json", '[{"name": "speed"}]'])
def test_bad_gates_are_an_error_naming_the_problem(bad: str) -> None:
    with pytest.raises(JobError, match="--metrics"):
        validate.parse_gates(bad)


def save(tmp: Path, name: str, flip: float) -> str:
    """A logistic regression on x>0 saved with skops; `flip` of its training labels wrong."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    y = (x["x"] > 0).astype(int).to_numpy()
    wrong = rng.random(400) < flip
    y[wrong] = 1 - y[wrong]
    model = LogisticRegression().fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            model,
            str(tmp / name),
            signature=infer_signature(x, model.predict(x)),
            serialization_format="skops",
        )
    return str(tmp / name)


def run(tmp: Path, candidate: str, stable: str, gates: list[dict[str, Any]]) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    holdout = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300)})
    holdout["label"] = (holdout["x"] > 0).astype(int)
    holdout.to_parquet(tmp / "holdout.parquet")
    args = [
        "--candidate", candidate, "--stable", stable, "--data", str(tmp / "holdout.parquet"),
        "--target", "label", "--metrics", json.dumps(gates),
    ]  # fmt: skip
    parser = argparse.ArgumentParser()
    validate.add_arguments(parser)
    return validate.run(parser.parse_args(args))


def test_a_worse_candidate_fails_and_a_good_one_passes(tmp_path: Path) -> None:
    good, bad = save(tmp_path, "good", 0.0), save(tmp_path, "bad", 0.45)
    gates = [{"name": "accuracy", "min": 0.85, "maxRegression": 0.01}, {"name": "roc_auc"}]
    passed = run(tmp_path, good, bad, gates)
    assert passed["passed"] and passed["rows"] == 300
    assert passed["metrics"][0]["candidate"] > 0.9 and passed["metrics"][1]["name"] == "roc_auc"
    failed = run(tmp_path, bad, good, gates)
    assert not failed["passed"]
    assert "worse than the stable version" in failed["metrics"][0]["why"]


def test_a_missing_label_column_is_an_error(tmp_path: Path) -> None:
    good = save(tmp_path, "good", 0.0)
    pd.DataFrame({"x": [1.0], "z": [0.0]}).to_parquet(tmp_path / "nolabel.parquet")
    parser = argparse.ArgumentParser()
    validate.add_arguments(parser)
    args = parser.parse_args(
        ["--candidate", good, "--data", str(tmp_path / "nolabel.parquet"),
         "--target", "label", "--metrics", '[{"name": "accuracy"}]']
    )  # fmt: skip
    with pytest.raises(JobError, match="has no column 'label'"):
        validate.run(args)
