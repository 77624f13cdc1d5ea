"""`modelops-runtime materialize`: load a Feast feature repo with Feast's Python API and
materialize its feature views from the offline store into the online store.

Without --start/--end the run is incremental: each view continues from the end of its last
materialization in the registry (or now - ttl when it has none) up to now. With both, the run
backfills the window [start, end]. The repo (feature_store.yaml and definition .py files) is
often a read-only ConfigMap mount, so the job works on a writable copy under the temp folder;
definitions missing from the registry (a fresh local registry, say) are applied first.

The result is one JSON object, printed as the last line of stdout and written to the pod's
termination message: {featureViews, materializedUntil, views: {name: materializedUntil}, rows,
applied (how many definitions were applied), error, startTime, completionTime}. Feast's own
output goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelops.serving_runtime.errors import BadInput, JobError
from modelops.serving_runtime.features.repo import (
    FEATURE_STORE_YAML,
    apply_missing,
    copy_repo,
    load_definitions,
    one_line,
    open_store,
    quiet_feast,
    unset_env_refs,
)
from modelops.serving_runtime.jobs.common import run_job, stage
from modelops.serving_runtime.jobs.online_store import (
    check_online_store,
    counting_writes,
    online_store_error,
)

# Rows per online-store write when the repo sets no materialization.online_write_batch_size.
WRITE_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo", help="the feature repo: a folder with feature_store.yaml and definition files"
    )
    parser.add_argument(
        "--views", help="comma-separated feature views (default: every view Feast materializes)"
    )
    parser.add_argument("--start", help="backfill window start, ISO 8601 (with --end)")
    parser.add_argument("--end", help="backfill window end, ISO 8601 (with --start)")


# --- pure helpers -------------------------------------------------------------------------


def parse_time(text: str, flag: str) -> datetime:
    """An ISO 8601 time as a timezone-aware UTC datetime; a time without an offset is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(
            f"{flag} {text!r} is not an ISO 8601 time like 2025-01-31T00:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_window(start: str | None, end: str | None, now: datetime) -> Window | None:
    """None (incremental) without --start and --end; a backfill window with both."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        given, missing = ("--start", "--end") if end is None else ("--end", "--start")
        raise BadInput(f"{given} needs {missing}: a backfill window takes both")
    window = Window(parse_time(start, "--start"), parse_time(end, "--end"))
    if window.start >= window.end:
        raise BadInput(f"--start {iso(window.start)} must be before --end {iso(window.end)}")
    if window.end > now:
        raise BadInput(
            f"--end {iso(window.end)} is in the future (now is {iso(now)}); the online store "
            "would claim data up to a time that has not happened"
        )
    return window


def parse_views(text: str | None) -> list[str] | None:
    """None for every view; otherwise the names in order, without repeats."""
    if text is None:
        return None
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise BadInput(f"--views {text!r} names no feature view")
    return names


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_views(
    requested: list[str] | None, materializable: list[str], other: list[str]
) -> list[str]:
    """The views to materialize; unknown or offline-only names are errors naming the known."""
    if requested is None:
        if not materializable:
            raise BadInput("the feature repo defines no feature view to materialize")
        return materializable
    known = ", ".join(materializable) or "none"
    not_online = [n for n in requested if n in other]
    unknown = [n for n in requested if n not in materializable and n not in other]
    if unknown:
        noun = "feature view" if len(unknown) == 1 else "feature views"
        names = ", ".join(repr(n) for n in unknown)
        raise BadInput(f"unknown {noun} {names}; the repo defines: {known}")
    if not_online:
        names = ", ".join(repr(n) for n in not_online)
        raise BadInput(
            f"feature view {names} is not materialized into the online store (online=False "
            f"or disabled); materializable views: {known}"
        )
    return requested


def shape_result(
    views: list[str],
    ends: dict[str, datetime | None],
    rows: int | None,
    applied: list[str],
) -> dict[str, Any]:
    """The job's result: per-view materialization ends and their minimum."""
    per_view = {name: (iso(end) if (end := ends.get(name)) else None) for name in views}
    known = [end for name in views if (end := ends.get(name)) is not None]
    result: dict[str, Any] = {
        "featureViews": list(views),
        "materializedUntil": iso(min(known)) if known else None,
        "views": per_view,
    }
    if rows is not None:
        result["rows"] = rows
    # A count: the names go to the log, so a long list never crowds the termination message.
    result["applied"] = len(applied)
    result["error"] = None
    return result


def materializable_views(store: Any) -> tuple[list[str], list[str]]:
    """(views Feast materializes by default, other views), as Feast's materialize picks them."""
    from feast import FeatureView, OnDemandFeatureView
    from feast.labeling.label_view import LabelView

    chosen: list[str] = []
    other: list[str] = []
    for view in store.registry.list_all_feature_views(project=store.project, allow_cache=False):
        enabled = getattr(view, "enabled", True)
        if isinstance(view, LabelView):
            ok = False
        elif isinstance(view, OnDemandFeatureView):
            ok = bool(view.write_to_online_store) and enabled
        elif isinstance(view, FeatureView):
            ok = bool(view.online) and enabled
        else:
            ok = False
        (chosen if ok else other).append(view.name)
    return sorted(set(chosen)), sorted(set(other) - set(chosen))


def materialized_until(store: Any, names: list[str]) -> dict[str, datetime | None]:
    """Each view's latest materialization end in the registry (None for views without
    materialization intervals, e.g. on-demand views)."""
    ends: dict[str, datetime | None] = {}
    for name in names:
        view = store.registry.get_any_feature_view(name, store.project, allow_cache=False)
        intervals = getattr(view, "materialization_intervals", None) or []
        ends[name] = max((end for _, end in intervals), default=None)
    return ends


# --- the run ------------------------------------------------------------------------------


def _check_repo(repo: str | None) -> Path:
    if not repo:
        raise BadInput("--repo is required: the folder holding feature_store.yaml")
    path = Path(repo)
    if not path.exists():
        raise BadInput(f"feature repo {repo} does not exist")
    if not path.is_dir():
        raise BadInput(f"feature repo {repo} is not a folder")
    config = path / FEATURE_STORE_YAML
    if not config.is_file():
        raise BadInput(f"feature repo {repo} has no {FEATURE_STORE_YAML}")
    try:
        text = config.read_text()
    except OSError as exc:
        raise JobError(f"could not read {config}: {exc.strerror or exc}") from exc
    unset = unset_env_refs(text)
    if unset:
        raise BadInput(
            f"{config} refers to {unset}, not set in the environment (the online store "
            "credentials usually come from a Secret through envFrom)"
        )
    return path


def run(args: argparse.Namespace, now: datetime | None = None) -> dict[str, Any]:
    now = datetime.now(UTC) if now is None else now
    views_requested = parse_views(args.views)
    window = parse_window(args.start, args.end, now)
    repo = _check_repo(args.repo)
    with tempfile.TemporaryDirectory(prefix="modelops-feast-") as tmp:
        copy = Path(tmp).resolve() / "repo"
        try:
            copy_repo(repo, copy)
        except OSError as exc:
            raise JobError(f"could not copy the feature repo {repo} to {tmp}: {exc}") from exc
        # Messages name the user's repo, not the temporary copy.
        paths = {str(copy): str(repo)}
        with quiet_feast():
            return _materialize(copy, paths, views_requested, window, now)


def _materialize(
    copy: Path,
    paths: dict[str, str],
    views_requested: list[str] | None,
    window: Window | None,
    now: datetime,
) -> dict[str, Any]:
    store = open_store(copy, paths)
    settings = store.config.materialization_config
    if settings.online_write_batch_size is None:
        # Feast's default writes a view in one batch, building every row's protobufs at once:
        # about 4 GB for a million entities, twice the job's default memory limit.
        settings.online_write_batch_size = WRITE_BATCH_SIZE
    stage("loading the feature definitions")
    contents = load_definitions(copy, paths)
    check_online_store(store, paths)
    try:
        applied = apply_missing(store, contents)
    except JobError:
        raise
    except Exception as exc:
        raise online_store_error(
            store, exc, "applying the repo's definitions to the registry", paths
        ) from exc
    materializable, other = materializable_views(store)
    views = check_views(views_requested, materializable, other)
    doing = f"materializing {', '.join(views)}"
    stage(
        doing, views=views, window=None if window is None else [iso(window.start), iso(window.end)]
    )
    try:
        with counting_writes(store) as rows:
            if window is None:
                store.materialize_incremental(end_date=now, feature_views=views)
            else:
                store.materialize(window.start, window.end, feature_views=views)
        written = rows()
        store.refresh_registry()
        ends = materialized_until(store, views)
    except Exception as exc:
        raise online_store_error(store, exc, doing, paths) from exc
    return shape_result(views, ends, written, applied)


def main(argv: list[str] | None = None) -> int:
    return run_job(
        "modelops-runtime materialize",
        __doc__,
        add_arguments,
        run,
        argv,
        # SystemExit too: a definition file may call sys.exit().
        unexpected=(Exception, SystemExit),
        describe=one_line,
    )


if __name__ == "__main__":
    sys.exit(main())
