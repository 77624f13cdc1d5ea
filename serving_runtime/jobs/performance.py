"""Model quality on production traffic: the prediction log joined with the ground-truth labels
that arrive later, scored with Evidently 0.7 and judged against a monitor's thresholds.

Too few labels is its own outcome (`TooFewLabels`, `degraded` None), never a pass: a window in
which nobody labelled anything says nothing about the model.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelops.serving_runtime.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

METRICS_CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc")
METRICS_REGRESSION = ("rmse", "mae", "r2")
TASKS = ("classification", "regression")

NO_PROBABILITIES = "the prediction log holds no probabilities"

# The metric type in Evidently's snapshot ("evidently:metric_v2:F1Score") -> the rule's name.
_EVIDENTLY_NAMES = {
    "Accuracy": "accuracy",
    "Precision": "precision",
    "Recall": "recall",
    "F1Score": "f1",
    "RocAuc": "roc_auc",
    "RMSE": "rmse",
    "MAE": "mae",
    "R2Score": "r2",
}
# Column names of the frames handed to Evidently, out of the way of any class label.
_KEY = "__modelops_key__"
_TARGET = "__modelops_label__"
_PROBA = "__modelops_proba__"
_ROW = "__modelops_row__"

# A metric's value, or why there is none.
Score = float | str


@dataclass(frozen=True)
class Rule:
    name: str
    min: float | None = None
    max: float | None = None


def parse_rules(text: str) -> list[Rule]:
    """Thresholds as JSON: [{"name": "accuracy", "min": 0.85}, {"name": "rmse", "max": 3}]."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"performance rules are not JSON: {e}") from e
    if not isinstance(items, list) or not items:
        raise BadInput("performance rules must be a non-empty JSON list")
    return [_rule(item) for item in items]


def _rule(item: Any) -> Rule:
    known = METRICS_CLASSIFICATION + METRICS_REGRESSION
    if not isinstance(item, dict) or item.get("name") not in known:
        raise BadInput(f"each performance rule names one of {', '.join(known)}: {item!r}")
    name = item["name"]
    # A misspelt key ("minimum") would otherwise leave a rule that checks nothing.
    extra = sorted(set(item) - {"name", "min", "max"})
    if extra:
        raise BadInput(f"rule {name!r}: unknown keys {', '.join(extra)} (only min and max)")
    low, high = _bound(name, "min", item.get("min")), _bound(name, "max", item.get("max"))
    if low is None and high is None:
        raise BadInput(f"rule {name!r} sets neither min nor max")
    if low is not None and high is not None and low > high:
        raise BadInput(f"rule {name!r}: min {low:g} > max {high:g}, no value can pass")
    return Rule(name, low, high)


def _bound(name: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    # bool is an int to Python, and `"min": true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInput(f"rule {name!r}: {key} {value!r} is not a number")
    return float(value)


def task_of(rules: list[Rule], task: str | None) -> str:
    """The task the rules belong to; a given task must agree with them."""
    if task is not None and task not in TASKS:
        raise BadInput(f"task {task!r} is not one of {', '.join(TASKS)}")
    classification = [r.name for r in rules if r.name in METRICS_CLASSIFICATION]
    regression = [r.name for r in rules if r.name in METRICS_REGRESSION]
    if classification and regression:
        raise BadInput(
            f"rules mix classification metrics ({', '.join(classification)}) with regression "
            f"metrics ({', '.join(regression)}): a model is one or the other"
        )
    implied = "classification" if classification else "regression" if regression else None
    if task is None:
        if implied is None:
            raise BadInput("no rules and no task: nothing tells classification from regression")
        return implied
    if implied is not None and implied != task:
        names = ", ".join(classification or regression)
        raise BadInput(f"the task is {task}, but the rules name {implied} metrics: {names}")
    return task


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: a value, if not a scalar one
        return False


def _text(value: Any) -> str | None:
    """An id or a class as text, so that 7, 7.0 and "7" meet: the prediction log holds JSON,
    labels come from parquet or CSV, and a column with a gap turns integers into floats."""
    if _missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _latest_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """One label per id: the latest, since a later label corrects an earlier one."""
    import pandas as pd

    if labels.empty:
        return pd.DataFrame({_KEY: pd.Series(dtype=object), "label": pd.Series(dtype=object)})
    missing = sorted({"id", "label"} - set(labels.columns))
    if missing:
        raise BadInput(f"the labels have no {', '.join(missing)} column")
    frame = pd.DataFrame({_KEY: labels["id"].map(_text), "label": labels["label"]})
    if "ts" in labels.columns:
        frame["ts"] = labels["ts"]
        # Stable, so that among labels of one instant the later row wins; a label without a
        # time sorts first and never overrides one that has it.
        frame = frame.sort_values("ts", kind="stable", na_position="first")
    # A label without a value tells nothing, so it corrects nothing either.
    frame = frame[frame[_KEY].notna() & frame["label"].notna()]
    return frame.drop_duplicates(_KEY, keep="last")[[_KEY, "label"]]


def join(predictions: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The predictions that have a label, with the label as a `label` column, and the counts."""
    import pandas as pd

    if len(predictions) and "prediction" not in predictions.columns:
        raise BadInput("the predictions have no prediction column")
    latest = _latest_labels(labels)
    keys = (
        predictions["id"].map(_text)
        if "id" in predictions.columns
        else pd.Series([None] * len(predictions), index=predictions.index, dtype=object)
    )
    # A feature that happens to be called `label` would collide with the one joined in.
    keyed = predictions.drop(columns=["label"], errors="ignore").assign(**{_KEY: keys})
    joined = keyed.merge(latest, on=_KEY, how="inner").drop(columns=[_KEY])
    known = set(keys.dropna())
    counts = {
        "predictions": len(predictions),
        "labelled": len(joined),
        "unlabelled": len(predictions) - len(joined),
        "orphanLabels": int((~latest[_KEY].isin(known)).sum()),
    }
    return joined.reset_index(drop=True), counts


def join_log(
    logged: pd.DataFrame, labels: pd.DataFrame, version: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """A window of the prediction log (predlog.read_window) joined with its labels: the
    labelled rows' prediction and label, their features (row for row), and the counts. With
    `version`, only that model version's predictions count."""
    import pandas as pd

    from modelops.serving_runtime.predlog import (
        LOGGED_AT,
        META_COLUMNS,
        MODEL_VERSION,
        PREDICTION_ID,
    )

    if version is not None and len(logged):
        logged = logged[logged[MODEL_VERSION].astype(str) == version]
    # Only the log's own columns go into the join: a feature called id, ts or label stays a
    # feature.
    keys = pd.DataFrame(
        {
            "id": logged[PREDICTION_ID].to_numpy(),
            "prediction": logged["prediction"].to_numpy(),
            "ts": logged[LOGGED_AT].to_numpy(),
            _ROW: np.arange(len(logged)),
        }
    )
    joined, counts = join(keys, labels)
    rows = joined[_ROW].to_numpy(dtype=int)
    features = logged.drop(columns=list(META_COLUMNS)).iloc[rows].reset_index(drop=True)
    return joined.drop(columns=[_ROW, "id", "ts"]), features, counts


def evaluate(
    joined: pd.DataFrame, rules: list[Rule], min_labels: int, task: str | None = None
) -> dict[str, Any]:
    """Every rule's metric on the labelled predictions, and whether the model is degraded."""
    task = task_of(rules, task)
    n = len(joined)
    head = {"task": task, "labelled": n, "minLabels": min_labels}
    if n < min_labels or n == 0:
        why = f"fewer than minLabels {min_labels}" if n else "nothing to score"
        return {
            **head,
            "degraded": None,
            "reason": "TooFewLabels",
            "message": f"{n} labelled predictions, {why}: quality not judged",
            "metrics": [],
        }
    names = list(dict.fromkeys(r.name for r in rules))
    if task == "classification":
        scores = _classification(joined, names)
    else:
        scores = _regression(joined, names)
    return {**head, **judge(rules, scores, n)}


def judge(rules: list[Rule], scores: dict[str, Score], labelled: int) -> dict[str, Any]:
    """Pure: each rule against its metric's score, and the verdict."""
    entries, breaches, missing = [], [], []
    for rule in rules:
        score = scores.get(rule.name, f"{rule.name} was not computed")
        if isinstance(score, str):
            entries.append(_entry(rule, None, None) | {"message": score})
            missing.append(f"{rule.name} ({score})")
            continue
        # Judged on the value reported, so that the verdict and the number shown agree.
        value = round(score, 6)
        why = _breaches(rule, value)
        breaches += why
        entries.append(_entry(rule, value, not why))
    within = (
        f"{len(entries) - len(missing)} of {len(entries)}" if missing else f"all {len(entries)}"
    )
    on = f"on {labelled} labelled predictions"
    if breaches:
        message = f"{'; '.join(breaches)}, {on}"
    else:
        message = f"{within} metrics within thresholds {on}"
    if missing:
        message += f"; not computed: {', '.join(missing)}"
    # A bound that could not be checked is no pass: without a breach, no verdict either.
    reason = "Breached" if breaches else ("NotComputed" if missing else "WithinThresholds")
    return {
        "metrics": entries,
        "degraded": True if breaches else (None if missing else False),
        "reason": reason,
        "message": message,
    }


def _entry(rule: Rule, value: float | None, passed: bool | None) -> dict[str, Any]:
    return {"name": rule.name, "value": value, "min": rule.min, "max": rule.max, "passed": passed}


def _breaches(rule: Rule, value: float) -> list[str]:
    why = []
    if rule.min is not None and value < rule.min:
        why.append(f"{rule.name} {_num(value)} < min {_num(rule.min)}")
    if rule.max is not None and value > rule.max:
        why.append(f"{rule.name} {_num(value)} > max {_num(rule.max)}")
    return why


def _num(value: float) -> str:
    return f"{round(value, 4):g}"


def _class_order(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order, then text: the order of a scikit-learn model's `classes_`,
    and so of the probabilities it logs."""
    try:
        number = float(text)
    except ValueError:
        return (1, 0.0, text)
    return (0, number, "") if math.isfinite(number) else (1, 0.0, text)


def _classification(joined: pd.DataFrame, names: list[str]) -> dict[str, Score]:
    ev = _evidently()
    # Classes are categories: compared as text, so an int label meets the same int predicted.
    label, prediction = joined["label"].map(_text), joined["prediction"].map(_text)
    empty = label.isna() | prediction.isna()
    if empty.any():
        raise BadInput(
            f"{int(empty.sum())} of {len(joined)} labelled predictions have no prediction "
            "or no label value"
        )
    classes = sorted(set(label) | set(prediction), key=_class_order)
    binary = len(classes) <= 2
    # scikit-learn's convention: the second of the sorted classes is the positive one (1 of
    # 0/1, True of False), the one the second column of predict_proba scores.
    positive = classes[-1]
    scores: dict[str, Score] = {}
    by_label = [n for n in names if n != "roc_auc"]
    if by_label:
        frame = label.to_frame(_TARGET).assign(prediction=prediction)
        # Evidently scores multiclass precision, recall and f1 as the macro average (the
        # unweighted mean over classes): a rare class counts as much as a common one.
        task = (
            ev.BinaryClassification(
                target=_TARGET, prediction_labels="prediction", pos_label=positive
            )
            if binary
            else ev.MulticlassClassification(target=_TARGET, prediction_labels="prediction")
        )
        definition = ev.DataDefinition(
            categorical_columns=[_TARGET, "prediction"], classification=[task]
        )
        scores |= _scores(frame, definition, by_label)
    if "roc_auc" in names:
        scores["roc_auc"] = _roc_auc(joined, label, classes, binary)
    return scores


def _roc_auc(joined: pd.DataFrame, label: pd.Series, classes: list[str], binary: bool) -> Score:
    """ROC AUC from the logged probabilities, scored apart from the other metrics: given
    probabilities, Evidently derives the predicted class from them (0.5 for binary, the most
    likely otherwise) instead of reading the prediction the model served."""
    probabilities = _probabilities(joined)
    if isinstance(probabilities, str):
        return probabilities
    if label.nunique() < 2:
        return "roc_auc is undefined when every label is the same class"
    if probabilities.shape[1] != len(classes):
        return (
            f"the logged probabilities hold {probabilities.shape[1]} classes, the labels and "
            f"predictions {len(classes)}: they cannot be paired"
        )
    ev = _evidently()
    frame = label.to_frame(_TARGET)
    if binary:
        frame[_PROBA] = probabilities[:, 1]
        task = ev.BinaryClassification(
            target=_TARGET, prediction_probas=_PROBA, pos_label=classes[1]
        )
        columns = [_PROBA]
    else:
        for i, name in enumerate(classes):
            frame[name] = probabilities[:, i]
        task = ev.MulticlassClassification(target=_TARGET, prediction_probas=classes)
        columns = classes
    definition = ev.DataDefinition(
        categorical_columns=[_TARGET], numerical_columns=columns, classification=[task]
    )
    return _scores(frame, definition, ["roc_auc"])["roc_auc"]


def _probabilities(joined: pd.DataFrame) -> np.ndarray[Any, Any] | str:
    """The logged class probabilities as a matrix, or why there are none to use."""
    if "probabilities" not in joined.columns:
        return NO_PROBABILITIES
    rows = [_probability_row(v) for v in joined["probabilities"]]
    present = [row for row in rows if row is not None]
    if not present:
        return NO_PROBABILITIES
    if len(present) < len(rows):
        return (
            f"{NO_PROBABILITIES} for {len(rows) - len(present)} of {len(rows)} labelled predictions"
        )
    if len({len(row) for row in present}) > 1:
        return "the logged probabilities do not hold the same number of classes on every row"
    return np.vstack(present)


def _probability_row(value: Any) -> np.ndarray[Any, Any] | None:
    try:
        row = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return row if row.ndim == 1 and row.size and bool(np.isfinite(row).all()) else None


def _regression(joined: pd.DataFrame, names: list[str]) -> dict[str, Score]:
    import pandas as pd

    label = pd.to_numeric(joined["label"], errors="coerce").astype(float)
    prediction = pd.to_numeric(joined["prediction"], errors="coerce").astype(float)
    bad = ~(np.isfinite(label) & np.isfinite(prediction))
    if bad.any():
        example = joined.loc[bad, ["label", "prediction"]].iloc[0].tolist()
        raise BadInput(
            f"regression needs numeric labels and predictions: {int(bad.sum())} of {len(joined)} "
            f"labelled rows hold something else, e.g. label {example[0]!r}, prediction "
            f"{example[1]!r}"
        )
    frame = label.to_frame(_TARGET).assign(prediction=prediction)
    ev = _evidently()
    definition = ev.DataDefinition(
        numerical_columns=[_TARGET, "prediction"],
        regression=[ev.Regression(target=_TARGET, prediction="prediction")],
    )
    return _scores(frame, definition, names)


def _evidently() -> Any:
    """The evidently package, imported with warnings silenced: importing it warns about the
    internals of the web framework its UI uses, which a batch job never starts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import evidently
        import evidently.metrics
    return evidently


def _metric(name: str) -> Any:
    classes = {ours: theirs for theirs, ours in _EVIDENTLY_NAMES.items()}
    return getattr(_evidently().metrics, classes[name])()


def _scores(frame: pd.DataFrame, definition: Any, names: list[str]) -> dict[str, Score]:
    """The metrics on one frame, in one Evidently report."""
    ev = _evidently()
    dataset = ev.Dataset.from_pandas(frame, data_definition=definition)
    with warnings.catch_warnings():
        # Evidently, scikit-learn and pandas warn about their own internals (and scikit-learn
        # about an undefined precision, which Evidently reports as 0).
        warnings.simplefilter("ignore")
        try:
            doc = ev.Report([_metric(n) for n in names]).run(current_data=dataset).dict()
        except Exception as exc:
            if len(names) == 1:
                return {names[0]: f"Evidently could not compute {names[0]}: {exc}".strip()}
            # One metric that fails fails the whole report: each alone keeps the others.
            return {k: v for n in names for k, v in _scores(frame, definition, [n]).items()}
    return read_scores(doc)


def read_scores(doc: dict[str, Any]) -> dict[str, Score]:
    """Pure: each metric's value from an Evidently 0.7 snapshot dict. MAE's value is a dict,
    the mean and the standard deviation of the absolute error; the others are numbers."""
    scores: dict[str, Score] = {}
    for metric in doc.get("metrics", []):
        name = _EVIDENTLY_NAMES.get(str(metric["config"]["type"]).rsplit(":", 1)[-1])
        if name is None:
            continue
        value = metric["value"]
        if isinstance(value, dict):
            value = value.get("mean")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        scores[name] = (
            number
            if math.isfinite(number)
            else f"Evidently could not compute {name} on these rows (it returned {value!r})"
        )
    return scores
