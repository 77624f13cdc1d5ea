"""`modelops-runtime validate`: score a rollout's candidate, and the version it would replace,
on labelled holdout data; the gate passes when every metric holds its bounds and regresses no
more than allowed. Prints the result as JSON last (and leaves it as the termination message);
a gate that fails is a result (exit 0), data that cannot be scored is an error (exit 1)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

from modelops.serving_runtime.errors import BadInput, JobError
from modelops.serving_runtime.jobs.common import env_default, load_table, run_job

HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "r2"}
LOWER_IS_BETTER = {"rmse", "mae"}
METRICS = HIGHER_IS_BETTER | LOWER_IS_BETTER


@dataclass(frozen=True)
class Gate:
    name: str
    min: float | None = None
    max: float | None = None
    max_regression: float | None = None


def parse_gates(text: str) -> list[Gate]:
    """`--metrics` JSON: [{"name": "accuracy", "min": 0.85, "maxRegression": 0.01}, ...]."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"--metrics is not JSON: {e}") from e
    if not isinstance(items, list) or not items:
        raise BadInput("--metrics must be a non-empty JSON list")
    gates = []
    for item in items:
        if not isinstance(item, dict) or item.get("name") not in METRICS:
            raise BadInput(f"--metrics: each entry names one of {sorted(METRICS)}: {item!r}")
        gates.append(
            Gate(item["name"], item.get("min"), item.get("max"), item.get("maxRegression"))
        )
    return gates


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", required=True, help="the candidate, models:/NAME/VERSION")
    parser.add_argument("--stable", help="the version it would replace, for maxRegression")
    parser.add_argument("--data", required=True, help="labelled data: s3://, runs:/ or a path")
    parser.add_argument("--target", required=True, help="the label column")
    parser.add_argument("--metrics", required=True, help="the gates, as JSON")
    parser.add_argument("--tracking-uri", default=env_default("MLFLOW_TRACKING_URI"))
    parser.add_argument("--allow-pickle", action="store_true")
    parser.add_argument("--max-rows", type=int, default=1_000_000)


def _scores(uri: str, args: argparse.Namespace, features: Any) -> tuple[Any, Any]:
    """The model's predictions and, when it has them, class probabilities."""
    from modelops.serving_runtime import codecs
    from modelops.serving_runtime.loader import load_model
    from modelops.serving_runtime.settings import RuntimeSettings

    settings = RuntimeSettings(
        model_uri=uri, mlflow_tracking_uri=args.tracking_uri, allow_pickle=args.allow_pickle
    )
    try:
        model = load_model(settings)
    except Exception as e:
        raise JobError(f"could not load {uri}: {type(e).__name__}: {e}") from e
    # As a client would send it, so the model sees exactly what serving would give it.
    doc = {"dataframe_split": json.loads(features.to_json(orient="split", index=False))}
    body = json.dumps(doc).encode()
    try:
        x = codecs.parse_invocations(body, "application/json", model.schema, len(features))
        out = model.predict(x, model.has_proba)
    except Exception as e:
        raise BadInput(f"{uri} could not score the data: {e}") from e
    return out.predictions, out.probabilities


def measure(name: str, y: Any, predicted: Any, proba: Any) -> float:
    import numpy as np
    from sklearn import metrics as m

    y, predicted = np.asarray(y), np.asarray(predicted).ravel()
    if name in ("rmse", "mae", "r2"):
        y, predicted = y.astype(float), predicted.astype(float)
        if name == "rmse":
            return float(math.sqrt(m.mean_squared_error(y, predicted)))
        return float(
            m.mean_absolute_error(y, predicted) if name == "mae" else m.r2_score(y, predicted)
        )
    if name == "accuracy":
        return float(m.accuracy_score(y, predicted))
    labels = set(np.unique(y)) | set(np.unique(predicted))
    average = "binary" if labels <= {0, 1} else "weighted"
    if name == "roc_auc":
        if proba is None:
            raise BadInput("roc_auc needs class probabilities, and the model has none")
        p = np.asarray(proba)
        if p.ndim == 2 and p.shape[1] == 2:
            return float(m.roc_auc_score(y, p[:, 1]))
        return float(m.roc_auc_score(y, p, multi_class="ovr"))
    score = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}[name]
    return float(score(y, predicted, average=average, zero_division=0))


def judge(gate: Gate, candidate: float, stable: float | None) -> dict[str, Any]:
    why = []
    if gate.min is not None and candidate < gate.min:
        why.append(f"{candidate:.4f} < min {gate.min}")
    if gate.max is not None and candidate > gate.max:
        why.append(f"{candidate:.4f} > max {gate.max}")
    regression = None
    if stable is not None:
        worse = stable - candidate if gate.name in HIGHER_IS_BETTER else candidate - stable
        regression = round(worse, 6)
        if gate.max_regression is not None and worse > gate.max_regression:
            why.append(
                f"{worse:.4f} worse than the stable version's {stable:.4f} "
                f"(maxRegression {gate.max_regression})"
            )
    return {
        "name": gate.name,
        "candidate": round(candidate, 6),
        "stable": None if stable is None else round(stable, 6),
        "regression": regression,
        "min": gate.min,
        "max": gate.max,
        "maxRegression": gate.max_regression,
        "passed": not why,
        "why": "; ".join(why),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    gates = parse_gates(args.metrics)
    frame = load_table(args.data, args.tracking_uri)
    if args.target not in frame.columns:
        raise BadInput(f"{args.data} has no column {args.target!r}: {list(frame.columns)[:20]}")
    frame = frame.head(args.max_rows)
    y, features = frame[args.target], frame.drop(columns=[args.target])
    scored = {"candidate": _scores(args.candidate, args, features)}
    if args.stable:
        scored["stable"] = _scores(args.stable, args, features)
    results = []
    for gate in gates:
        values = {k: measure(gate.name, y, *v) for k, v in scored.items()}
        results.append(judge(gate, values["candidate"], values.get("stable")))
    return {
        "passed": all(r["passed"] for r in results),
        "rows": len(frame),
        "metrics": results,
        "error": None,
    }


def main(argv: list[str] | None = None) -> int:
    return run_job("modelops-runtime validate", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
