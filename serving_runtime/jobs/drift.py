"""`modelops-runtime drift`: compare current data with the reference using Evidently 0.7.

The result is one JSON object, printed as the last line of stdout and written to the pod's
termination message, where the operator reads it (the job needs no Kubernetes API rights):
{datasetDrift, driftShare, driftedColumns, rowsReference, rowsCurrent, reportUri, error, ...}.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from modelops.serving_runtime.errors import BadInput, JobError
from modelops.serving_runtime.jobs import actions
from modelops.serving_runtime.jobs.common import (
    env_default,
    load_table,
    redact,
    run_job,
    stage,
)

_DURATION = re.compile(r"^([1-9][0-9]*)(s|m|h|d)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(@(?P<alias>[^/]+)|/(?P<version>[^/]+))$")


def parse_duration(text: str) -> float:
    m = _DURATION.match(text)
    if m is None:
        raise BadInput(f"--window {text!r} is not a duration like 30m, 1h or 7d")
    return int(m[1]) * _SECONDS[m[2]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--reference", help="reference dataset URI (parquet or csv)")
    ref.add_argument(
        "--reference-model",
        help="models:/NAME/VERSION: use the dataset mlflow.log_input recorded on its run",
    )
    cur = parser.add_mutually_exclusive_group()
    cur.add_argument("--current", help="current dataset URI (parquet or csv)")
    cur.add_argument("--window", help="read this much of the prediction log (e.g. 1h)")
    parser.add_argument("--stream", default=env_default("PREDICTION_LOG_STREAM"))
    parser.add_argument("--redis-url", default=env_default("PREDICTION_LOG_REDIS_URL"))
    parser.add_argument("--tracking-uri", default=env_default("MLFLOW_TRACKING_URI"))
    parser.add_argument(
        "--model",
        help="models:/NAME/VERSION served: its signature's inputs are the monitored columns "
        "(implied by --reference-model)",
    )
    parser.add_argument(
        "--columns",
        help="comma-separated columns to monitor (default: the model's inputs, else every "
        "reference column)",
    )
    parser.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="COLUMN=METHOD",
        help="an Evidently drift method for a column (repeatable)",
    )
    parser.add_argument("--threshold", type=float, default=0.2, help="drift share, in (0, 1]")
    parser.add_argument("--min-rows", type=int, default=100)
    parser.add_argument("--report-dir", help="artifact store URI (s3://...) for HTML/JSON reports")
    parser.add_argument(
        "--report-to-run",
        action="store_true",
        help="attach the reports to the MLflow run of --model (models:/NAME/VERSION)",
    )
    parser.add_argument(
        "--tag-model-version",
        action="store_true",
        help="on drift, tag the version --model names (modelops.drift=true)",
    )
    parser.add_argument(
        "--monitor", help="NAMESPACE/NAME of the DriftMonitor, for the webhook's payload"
    )
    parser.add_argument("--model-deployment", help="the monitored ModelDeployment's name")
    parser.add_argument(
        "--performance",
        help='JSON rules [{"name": "accuracy", "min": 0.85}, ...]: also join the window\'s '
        "predictions with their labels (POST /feedback) and check model quality",
    )
    parser.add_argument("--min-labels", type=int, default=50)


def reference_from_model(model_uri: str, tracking_uri: str | None) -> Any:
    """The training dataset mlflow.log_input recorded on the run of a registered version."""
    import mlflow

    m = _MODEL_URI.match(model_uri)
    if m is None:
        raise BadInput(f"--reference-model {model_uri!r} is not models:/NAME/VERSION")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        if m["alias"]:
            mv = client.get_model_version_by_alias(m["name"], m["alias"])
        else:
            mv = client.get_model_version(m["name"], m["version"])
        # A version registered without a run has run_id None: MLflow's own error reports it.
        run = client.get_run(cast(str, mv.run_id))
    except Exception as exc:
        raise JobError(f"could not read {model_uri} from the registry: {exc}") from exc
    inputs = list(run.inputs.dataset_inputs or []) if run.inputs is not None else []
    if not inputs:
        raise BadInput(
            f"run {mv.run_id} of {model_uri} recorded no dataset with mlflow.log_input; "
            "set spec.reference.uri"
        )
    # The dataset logged with context "training" wins; otherwise the first one.
    inputs.sort(key=lambda d: all(t.value != "training" for t in d.tags))
    dataset = inputs[0].dataset
    try:
        source = mlflow.data.get_source(dataset)
        # Every concrete source takes dst_path; the abstract DatasetSource.load does not say so.
        local = source.load(  # type: ignore[call-arg]
            dst_path=tempfile.mkdtemp(prefix="modelops-reference-")
        )
    except Exception as exc:
        raise BadInput(
            f"dataset {dataset.name!r} logged on run {mv.run_id} has no loadable source "
            f"({dataset.source_type}); log it with mlflow.data.from_pandas(df, source=URI) "
            f"or set spec.reference.uri ({exc})"
        ) from exc
    return load_table(str(local), tracking_uri)


def log_window(redis_url: str | None, stream: str | None, window: str, now: float) -> Any:
    """The window of the prediction log: features plus the log's own columns."""
    import redis

    from modelops.serving_runtime.predlog import read_window

    if not redis_url or not stream:
        raise BadInput("reading the prediction log needs --redis-url and --stream")
    seconds = parse_duration(window)
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        return read_window(client, stream, now - seconds)
    except redis.RedisError as exc:
        raise JobError(
            f"could not read the prediction log from {redact(redis_url)}: {exc}"
        ) from exc


def window_labels(redis_url: str, stream: str, window: str, now: float) -> Any:
    """Every label sent since the window began: a label arrives after its prediction, so
    none for the window's predictions can be older."""
    import redis

    from modelops.serving_runtime.predlog import read_labels

    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        return read_labels(client, stream, now - parse_duration(window))
    except redis.RedisError as exc:
        raise JobError(f"could not read the labels from {redact(redis_url)}: {exc}") from exc


def model_performance(args: argparse.Namespace, logged: Any, now: float) -> dict[str, Any]:
    """Model quality over the window's labelled predictions (spec.performance)."""
    from modelops.serving_runtime.jobs import performance

    rules = performance.parse_rules(args.performance)
    window = args.window or "1h"
    labels = window_labels(args.redis_url, args.stream, window, now)
    model = args.reference_model or args.model
    version = model.rsplit("/", 1)[-1] if model and _MODEL_URI.match(model) else None
    if version is not None and not version.isdigit():
        version = None
    # The quality of the version served, not of a mix: a canary's candidate and the version
    # a promotion replaced are not what the bound is about.
    joined, _, counts = performance.join_log(logged, labels, version)
    verdict = performance.evaluate(joined, rules, args.min_labels)
    total = counts["predictions"]
    return {
        **verdict,
        "modelVersion": version,
        "window": window,
        "predictions": total,
        "labelled": counts["labelled"],
        "orphanLabels": counts["orphanLabels"],
        "joinRate": round(counts["labelled"] / total, 6) if total else None,
    }


def model_features(model_uri: str, tracking_uri: str | None) -> list[str] | None:
    """The input columns of the model's signature: the features it is served, which is what
    the check must see in the current data. None when the signature names no columns."""
    import mlflow
    from mlflow.models import Model

    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{model_uri.rstrip('/')}/MLmodel",
            dst_path=tempfile.mkdtemp(prefix="modelops-mlmodel-"),
            tracking_uri=tracking_uri,
        )
        signature = Model.load(local).signature
    except Exception as exc:
        raise JobError(f"could not read the signature of {model_uri}: {exc}") from exc
    if signature is None or not signature.inputs.has_input_names():
        return None
    return [str(n) for n in signature.inputs.input_names()]


def column_kind(series: Any) -> str:
    """numeric, datetime, text, or empty: the kinds whose mix-up a drift test cannot absorb."""
    import pandas as pd

    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "empty":
        return "empty"
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal", "boolean"):
        return "numeric"
    if inferred.startswith("datetime") or inferred in ("date", "timedelta", "period"):
        return "datetime"
    return "text"


def select_columns(
    reference: Any, current: Any, requested: list[str] | None, features: list[str] | None
) -> tuple[list[str], list[str]]:
    """The columns to compare and the current data's columns left out of the comparison.

    The monitored set is what was asked for, else the model's input features, else every
    reference column. A monitored column the current data lacks, holds no value in, or holds
    values of another kind in fails the run: a feature that vanished or changed type is the
    worst drift there is, and comparing the columns that are left would report "no drift".
    """
    monitored = requested or features or [str(c) for c in reference.columns]
    problems = []
    not_in_reference = [c for c in monitored if c not in reference.columns]
    if not_in_reference:
        problems.append(f"not in the reference: {', '.join(not_in_reference)}")
    absent = [c for c in monitored if c not in current.columns]
    if absent:
        problems.append(f"missing from the current data: {', '.join(absent)}")
    kinds = [
        (c, column_kind(reference[c]), column_kind(current[c]))
        for c in monitored
        if c in reference.columns and c in current.columns
    ]
    empty = [c for c, ref, cur in kinds if cur == "empty" and ref != "empty"]
    if empty:
        problems.append(f"no values in the current data: {', '.join(empty)}")
    changed = [
        f"{c} ({ref} in the reference, {cur} now)"
        for c, ref, cur in kinds
        if "empty" not in (ref, cur) and ref != cur
    ]
    if changed:
        problems.append(f"type changed: {', '.join(changed)}")
    if problems:
        raise BadInput("monitored columns " + "; ".join(problems))
    if not monitored:
        raise BadInput("the reference has no columns to compare")
    chosen = set(monitored)
    return list(monitored), sorted(str(c) for c in current.columns if c not in chosen)


def parse_methods(items: list[str]) -> dict[str, str]:
    methods = {}
    for item in items:
        column, sep, method = item.partition("=")
        if not sep or not column or not method:
            raise BadInput(f"--method {item!r} is not COLUMN=METHOD")
        methods[column] = method
    return methods


def evaluate(
    reference: Any,
    current: Any,
    columns: list[str],
    threshold: float,
    methods: dict[str, str],
) -> tuple[dict[str, Any], Any]:
    """Run Evidently's DataDriftPreset on the columns; returns the facts and the snapshot."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    preset = DataDriftPreset(
        columns=columns, drift_share=threshold, per_column_method=methods or None
    )
    with warnings.catch_warnings():
        # Evidently and pandas warn about their own internals; the result is the output.
        warnings.simplefilter("ignore")
        snapshot = Report([preset], include_tests=True).run(
            current_data=current[columns], reference_data=reference[columns]
        )
        doc = snapshot.dict()
    return summarize(doc, threshold), snapshot


def summarize(doc: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Pure: drifted columns and the share from an Evidently 0.7 snapshot dict."""
    failed = {
        t["metric_config"]["metric_id"]
        for t in doc.get("tests", [])
        if str(getattr(t["status"], "value", t["status"])) == "FAIL"
    }
    drifted, scores, share = [], {}, None
    for metric in doc["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":ValueDrift"):
            column = metric["config"]["column"]
            scores[column] = {
                "method": metric["config"].get("method"),
                "score": float(metric["value"]),
                "threshold": metric["config"].get("threshold"),
            }
            if metric["id"] in failed:
                drifted.append(column)
        elif kind.endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    if share is None:
        raise JobError("Evidently returned no drifted-columns share")
    return {
        "datasetDrift": share >= threshold,
        "driftShare": round(share, 6),
        "driftedColumns": sorted(drifted),
        "columnScores": scores,
    }


def write_reports(snapshot: Any, target: str, stamp: str) -> str:
    """HTML and JSON reports into an artifact store (s3://...); returns the HTML's URI."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    name = f"drift-{stamp}"
    with tempfile.TemporaryDirectory(prefix="modelops-report-") as tmp:
        snapshot.save_html(str(Path(tmp) / f"{name}.html"))
        snapshot.save_json(str(Path(tmp) / f"{name}.json"))
        get_artifact_repository(target).log_artifacts(tmp)
    return f"{target.rstrip('/')}/{name}.html"


REPORTS_ON_RUN = "modelops-drift"


def write_reports_to_run(
    snapshot: Any, model_uri: str, tracking_uri: str | None, stamp: str
) -> str:
    """HTML and JSON reports as artifacts of the model version's MLflow run, under
    modelops-drift/; returns runs:/RUN_ID/modelops-drift/drift-STAMP.html."""
    import mlflow

    m = _MODEL_URI.match(model_uri)
    if m is None:
        raise BadInput(f"--model {model_uri!r} is not models:/NAME/VERSION")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if m["alias"]:
        mv = client.get_model_version_by_alias(m["name"], m["alias"])
    else:
        mv = client.get_model_version(m["name"], m["version"])
    if not mv.run_id:
        raise BadInput(f"{model_uri} was registered without a run: no run to attach reports to")
    name = f"drift-{stamp}"
    with tempfile.TemporaryDirectory(prefix="modelops-report-") as tmp:
        snapshot.save_html(str(Path(tmp) / f"{name}.html"))
        snapshot.save_json(str(Path(tmp) / f"{name}.json"))
        client.log_artifacts(mv.run_id, tmp, artifact_path=REPORTS_ON_RUN)
    return f"runs:/{mv.run_id}/{REPORTS_ON_RUN}/{name}.html"


def save_reports(
    args: argparse.Namespace, model: str | None, snapshot: Any, now: float
) -> dict[str, Any]:
    """Where the reports went, or why they could not be written: the drift figures are
    reported either way (a report store that is down must not lose a run's findings)."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        if args.report_dir:
            stage("writing the report", uri=redact(args.report_dir))
            return {"reportUri": write_reports(snapshot, args.report_dir, stamp)}
        if args.report_to_run:
            if not model:
                return {"reportError": "no --model: no MLflow run to attach the report to"}
            stage("attaching the report to the model version's run", model=model)
            return {"reportUri": write_reports_to_run(snapshot, model, args.tracking_uri, stamp)}
    except Exception as exc:  # the store's or the registry's error, whatever its type
        return {"reportError": f"could not write the report: {type(exc).__name__}: {exc}"}
    return {}


def run(args: argparse.Namespace, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    if not 0 < args.threshold <= 1:
        raise BadInput(f"--threshold {args.threshold} must be in (0, 1]")
    if args.reference:
        stage("reading the reference", uri=redact(args.reference))
        reference = load_table(args.reference, args.tracking_uri)
    elif args.reference_model:
        stage("reading the reference the model was trained on", model=args.reference_model)
        reference = reference_from_model(args.reference_model, args.tracking_uri)
    else:
        raise BadInput("no reference: give --reference URI or --reference-model models:/N/V")
    quality = None
    if args.current:
        if args.performance:
            raise BadInput("--performance joins labels to the prediction log: use --window")
        stage("reading the current data", uri=redact(args.current))
        current = load_table(args.current, args.tracking_uri)
    else:
        from modelops.serving_runtime.predlog import META_COLUMNS

        stage("reading the prediction log", window=args.window or "1h")
        logged = log_window(args.redis_url, args.stream, args.window or "1h", now)
        if args.performance:
            quality = model_performance(args, logged, now)
        current = logged.drop(columns=list(META_COLUMNS), errors="ignore")

    requested = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    model = args.reference_model or args.model
    features = None if requested or not model else model_features(model, args.tracking_uri)
    columns, ignored = select_columns(reference, current, requested, features)
    if len(current) < args.min_rows:
        raise BadInput(f"too few current rows: {len(current)} < minRows {args.min_rows}")
    if len(reference) < args.min_rows:
        raise BadInput(f"too few reference rows: {len(reference)} < minRows {args.min_rows}")
    methods = parse_methods(args.method)
    unknown = sorted(set(methods) - set(columns))
    if unknown:
        raise BadInput(f"--method names columns not compared: {', '.join(unknown)}")

    stage(
        "comparing the current data with the reference",
        columns=len(columns),
        rowsReference=len(reference),
        rowsCurrent=len(current),
    )
    facts, snapshot = evaluate(reference, current, columns, args.threshold, methods)
    result = {
        **facts,
        "rowsReference": len(reference),
        "rowsCurrent": len(current),
        "ignoredColumns": ignored,
        "reportUri": None,
        **save_reports(args, model, snapshot, now),
        "error": None,
    }
    if quality is not None:
        result["performance"] = quality
    if facts["datasetDrift"]:
        stage("taking the onDrift actions", driftShare=facts["driftShare"])
        taken = on_drift(args, model, result)
        if taken:
            result["actions"] = taken
    return result


def on_drift(args: argparse.Namespace, model: str | None, result: dict[str, Any]) -> dict[str, Any]:
    """The onDrift actions the flags and the environment ask for, and how each went."""
    taken: dict[str, Any] = {}
    version = model.rsplit("/", 1)[-1] if model else None
    if args.tag_model_version:
        if model is None:
            taken["tag"] = {"ok": False, "error": "no --model: nothing to tag"}
        else:
            tags = {"modelops.drift": "true", "modelops.drift_share": str(result["driftShare"])}
            taken["tag"] = actions.tag_model_version(model, args.tracking_uri, tags)
    url = env_default(actions.WEBHOOK_ENV)
    if url:
        namespace, _, monitor = (args.monitor or "").partition("/")
        payload = {
            "namespace": namespace or None,
            "driftMonitor": monitor or None,
            "modelDeployment": args.model_deployment,
            "modelVersion": version,
            **{k: v for k, v in result.items() if k != "actions"},
        }
        taken["webhook"] = actions.post_webhook(url, payload)
    return taken


def main(argv: list[str] | None = None) -> int:
    return run_job("modelops-runtime drift", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
