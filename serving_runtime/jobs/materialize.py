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
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelops.serving_runtime.jobs.common import JobError, emit_result

FEATURE_STORE_YAML = "feature_store.yaml"
# Not copied: the kubelet's atomic-writer folders of a ConfigMap mount (`..data`,
# `..2024_01_01_00_00_00.123`: Feast would import the definitions twice through them), caches
# and tool folders Feast ignores too.
_SKIPPED_NAMES = {"__pycache__", ".git", ".venv", ".ipynb_checkpoints", ".pytest_cache"}
# `${VAR}` in feature_store.yaml, which Feast expands from the environment.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MESSAGE_LIMIT = 600
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
        raise JobError(
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
        raise JobError(f"{given} needs {missing}: a backfill window takes both")
    window = Window(parse_time(start, "--start"), parse_time(end, "--end"))
    if window.start >= window.end:
        raise JobError(f"--start {iso(window.start)} must be before --end {iso(window.end)}")
    if window.end > now:
        raise JobError(
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
        raise JobError(f"--views {text!r} names no feature view")
    return names


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_views(
    requested: list[str] | None, materializable: list[str], other: list[str]
) -> list[str]:
    """The views to materialize; unknown or offline-only names are errors naming the known."""
    if requested is None:
        if not materializable:
            raise JobError("the feature repo defines no feature view to materialize")
        return materializable
    known = ", ".join(materializable) or "none"
    not_online = [n for n in requested if n in other]
    unknown = [n for n in requested if n not in materializable and n not in other]
    if unknown:
        noun = "feature view" if len(unknown) == 1 else "feature views"
        names = ", ".join(repr(n) for n in unknown)
        raise JobError(f"unknown {noun} {names}; the repo defines: {known}")
    if not_online:
        names = ", ".join(repr(n) for n in not_online)
        raise JobError(
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
    per_view = {name: (iso(ends[name]) if ends.get(name) else None) for name in views}
    known = [ends[name] for name in views if ends.get(name) is not None]
    result: dict[str, Any] = {
        "featureViews": list(views),
        "materializedUntil": iso(min(known)) if known else None,  # type: ignore[type-var]
        "views": per_view,
    }
    if rows is not None:
        result["rows"] = rows
    # A count: the names go to the log, so a long list never crowds the termination message.
    result["applied"] = len(applied)
    result["error"] = None
    return result


def missing_env_refs(config_text: str, environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """The `${VAR}` references in feature_store.yaml that the environment does not set."""
    return sorted({m[1] for m in _ENV_REF.finditer(config_text) if m[1] not in environ})


def one_line(exc: BaseException, replace: dict[str, str] | None = None) -> str:
    """`Type: message` on one line, bounded, with temp-copy paths shown as the user's."""
    text = " ".join(str(exc).split()) or "(no message)"
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def redis_endpoints(connection_string: str) -> str:
    """host:port parts of a Feast Redis connection string, without its options (password)."""
    nodes = [p.strip() for p in connection_string.split(",") if p.strip() and "=" not in p]
    return ", ".join(nodes) or "(no host)"


# --- the repo copy and its definitions ----------------------------------------------------


def copy_repo(source: Path, target: Path) -> None:
    """Copy the repo's files (following symlinks, as a ConfigMap mount uses) into `target`,
    all writable by this user whatever the source's modes."""
    seen: set[Path] = set()

    def walk(src: Path, dst: Path) -> None:
        real = src.resolve()
        if real in seen:  # a symlink loop
            return
        seen.add(real)
        dst.mkdir(parents=True, exist_ok=True)
        for entry in sorted(os.scandir(src), key=lambda e: e.name):
            if entry.name.startswith("..") or entry.name in _SKIPPED_NAMES:
                continue
            if entry.is_dir():
                walk(Path(entry.path), dst / entry.name)
            elif entry.is_file():
                shutil.copyfile(entry.path, dst / entry.name)

    walk(source, target)


def _definition_modules(root: Path) -> set[str]:
    return {p.relative_to(root).parts[0].removesuffix(".py") for p in root.rglob("*.py")}


@contextlib.contextmanager
def importable(root: Path) -> Iterator[None]:
    """What feast.repo_operations.parse_repo needs (the repo as the working directory and on
    sys.path), undone afterwards with the repo's modules, so a second run in the same process
    imports its own definitions rather than the cached first ones."""
    names = _definition_modules(root)
    shadowed = sorted(n for n in names if n in sys.stdlib_module_names)
    if shadowed:
        raise JobError(
            f"definition file {shadowed[0]}.py shadows the Python module {shadowed[0]!r}; rename it"
        )
    cwd, path, bytecode = os.getcwd(), list(sys.path), sys.dont_write_bytecode
    displaced = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    before = set(sys.modules)
    os.chdir(root)
    sys.path.insert(0, str(root))
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        sys.dont_write_bytecode = bytecode
        for name in set(sys.modules) - before:
            if name.split(".")[0] in names:
                del sys.modules[name]
        sys.modules.update(displaced)


def _where(exc: BaseException, root: Path) -> str:
    """`file.py:line` of the innermost frame of the error inside the repo, if any."""
    if isinstance(exc, SyntaxError) and exc.filename:
        with contextlib.suppress(ValueError):
            rel = Path(exc.filename).resolve().relative_to(root)
            return f"{rel}:{exc.lineno}" if exc.lineno else str(rel)
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        with contextlib.suppress(ValueError):
            rel = Path(frame.filename).resolve().relative_to(root)
            found = f"{rel}:{frame.lineno}"
    return found


def load_definitions(root: Path, paths: dict[str, str]) -> Any:
    from feast.repo_operations import parse_repo

    try:
        with importable(root):
            return parse_repo(root)
    except JobError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - sys.exit() in a definition file too
        where = _where(exc, root.resolve())
        at = f" ({where})" if where else ""
        raise JobError(
            f"could not load the feature definitions{at}: {one_line(exc, paths)}"
        ) from exc


def _registered(store: Any) -> set[tuple[str, str]]:
    registry, project = store.registry, store.project
    found: set[tuple[str, str]] = set()
    for kind, lister in (
        ("entity", registry.list_entities),
        ("data source", registry.list_data_sources),
        ("feature view", registry.list_all_feature_views),
        ("feature service", registry.list_feature_services),
        ("permission", registry.list_permissions),
    ):
        found |= {(kind, o.name) for o in lister(project=project, allow_cache=False)}
    found |= {("project", p.name) for p in registry.list_projects(allow_cache=False)}
    return found


def _definitions(contents: Any) -> list[tuple[str, Any]]:
    from feast.feature_view import DUMMY_ENTITY_NAME

    views = [
        *contents.feature_views,
        *contents.stream_feature_views,
        *contents.on_demand_feature_views,
        *contents.label_views,
    ]
    return [
        *(("project", p) for p in contents.projects),
        *(("entity", e) for e in contents.entities if e.name != DUMMY_ENTITY_NAME),
        *(("data source", d) for d in contents.data_sources),
        *(("feature view", v) for v in views),
        *(("feature service", s) for s in contents.feature_services),
        *(("permission", p) for p in contents.permissions),
    ]


def apply_missing(store: Any, contents: Any) -> list[str]:
    """Apply the repo's definitions the registry lacks (all of them for a fresh registry);
    definitions already registered are left as they are. Returns what was applied."""
    for project in contents.projects:
        if project.name != store.project:
            raise JobError(
                f"the repo defines project {project.name!r} but {FEATURE_STORE_YAML} names "
                f"{store.project!r}"
            )
    registered = _registered(store)
    missing = [(k, o) for k, o in _definitions(contents) if (k, o.name) not in registered]
    if not missing:
        return []
    store.apply([o for _, o in missing], partial=True)
    names = sorted(f"{kind} {obj.name}" for kind, obj in missing)
    print(f"applied to the registry: {', '.join(names)}", file=sys.stderr)
    return names


def materializable_views(store: Any) -> tuple[list[str], list[str]]:
    """(views Feast materializes by default, other views), as Feast's materialize picks them."""
    from feast import FeatureView, OnDemandFeatureView
    from feast.labeling.label_view import LabelView

    chosen, other = [], []
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


@contextlib.contextmanager
def counting_writes(store: Any) -> Iterator[Callable[[], int | None]]:
    """Count the rows handed to the online store while materializing (rows the store skips
    as no newer than what it holds are counted too). Yields a getter: None when the
    provider's online store could not be hooked."""
    counted = [0]
    try:
        online = store._get_provider().online_store
        original = online.online_write_batch
    except Exception:  # noqa: BLE001 - counting is optional
        yield lambda: None
        return

    def write(config: Any, table: Any, data: Any, progress: Any) -> Any:
        result = original(config, table, data, progress)
        counted[0] += len(data)
        return result

    online.online_write_batch = write
    try:
        yield lambda: counted[0]
    finally:
        with contextlib.suppress(AttributeError):
            del online.online_write_batch


def _redis_error(exc: BaseException) -> BaseException | None:
    try:
        import redis
    except ImportError:
        return None
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, redis.RedisError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _online_store_error(
    store: Any, exc: BaseException, doing: str, paths: dict[str, str]
) -> JobError:
    cause = _redis_error(exc)
    if cause is not None:
        online = store.config.online_store
        endpoint = redis_endpoints(getattr(online, "connection_string", ""))
        return JobError(
            f"could not reach the Redis online store at {endpoint} while {doing}: "
            f"{one_line(cause, paths)}"
        )
    return JobError(f"{doing} failed: {one_line(exc, paths)}")


def check_online_store(store: Any, paths: dict[str, str]) -> None:
    """Ping a plain Redis online store with short timeouts and no retries, so an unreachable
    or misconfigured Redis fails fast with a clear error, before anything is written (redis-py
    otherwise retries with backoff, and waits for the OS connect timeout on a silent host).
    Cluster and sentinel setups are left to Feast."""
    online = store.config.online_store
    kind = getattr(getattr(online, "redis_type", None), "value", None)
    if getattr(online, "type", None) != "redis" or kind != "redis":
        return
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    endpoint = redis_endpoints(online.connection_string)
    nodes, kwargs = RedisOnlineStore._parse_connection_string(online.connection_string)
    if not nodes or "port" not in nodes[0]:
        raise JobError(
            f"the Redis online store's connection_string names no host:port ({endpoint}); "
            "expected host:port[,db=N][,password=...][,ssl=true]"
        )
    kwargs.setdefault("socket_connect_timeout", 5)
    kwargs.setdefault("socket_timeout", 5)
    kwargs["retry"] = Retry(NoBackoff(), 0)
    try:
        client = redis.Redis(host=nodes[0]["host"], port=int(nodes[0]["port"]), **kwargs)
    except (TypeError, ValueError) as exc:
        raise JobError(
            f"the Redis online store's connection_string is invalid: {one_line(exc, paths)}"
        ) from exc
    try:
        client.ping()
    except redis.RedisError as exc:
        raise JobError(
            f"could not reach the Redis online store at {endpoint}: {one_line(exc, paths)}"
        ) from exc
    finally:
        client.close()


@contextlib.contextmanager
def quiet_feast() -> Iterator[None]:
    """Feast and its dependencies (dask, pandas, protobuf, pydantic) warn about their own
    internals and deprecations the job cannot act on, and Feast prints progress with print();
    the result line is the job's output, so warnings are ignored, Feast logs at WARNING and
    its prints go to stderr, keeping stdout for the JSON result alone."""
    logger = logging.getLogger("feast")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


# --- the run ------------------------------------------------------------------------------


def _check_repo(repo: str | None) -> Path:
    if not repo:
        raise JobError("--repo is required: the folder holding feature_store.yaml")
    path = Path(repo)
    if not path.exists():
        raise JobError(f"feature repo {repo} does not exist")
    if not path.is_dir():
        raise JobError(f"feature repo {repo} is not a folder")
    config = path / FEATURE_STORE_YAML
    if not config.is_file():
        raise JobError(f"feature repo {repo} has no {FEATURE_STORE_YAML}")
    try:
        text = config.read_text()
    except OSError as exc:
        raise JobError(f"could not read {config}: {exc.strerror or exc}") from exc
    unset = missing_env_refs(text, os.environ)
    if unset:
        names = ", ".join(f"${{{n}}}" for n in unset)
        raise JobError(
            f"{config} refers to {names}, not set in the environment (the online store "
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
    import feast

    try:
        store = feast.FeatureStore(repo_path=str(copy))
    except Exception as exc:  # noqa: BLE001 - yaml, pydantic, unknown store types
        raise JobError(
            f"{Path(paths[str(copy)]) / FEATURE_STORE_YAML} is not a valid Feast configuration: "
            f"{one_line(exc, paths)}"
        ) from exc
    settings = store.config.materialization_config
    if settings.online_write_batch_size is None:
        # Feast's default writes a view in one batch, building every row's protobufs at once:
        # about 4 GB for a million entities, twice the job's default memory limit.
        settings.online_write_batch_size = WRITE_BATCH_SIZE
    contents = load_definitions(copy, paths)
    check_online_store(store, paths)
    try:
        applied = apply_missing(store, contents)
    except JobError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _online_store_error(
            store, exc, "applying the repo's definitions to the registry", paths
        ) from exc
    materializable, other = materializable_views(store)
    views = check_views(views_requested, materializable, other)
    doing = f"materializing {', '.join(views)}"
    try:
        with counting_writes(store) as rows:
            if window is None:
                store.materialize_incremental(end_date=now, feature_views=views)
            else:
                store.materialize(window.start, window.end, feature_views=views)
        written = rows()
        store.refresh_registry()
        ends = materialized_until(store, views)
    except Exception as exc:  # noqa: BLE001
        raise _online_store_error(store, exc, doing, paths) from exc
    return shape_result(views, ends, written, applied)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelops-runtime materialize", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    try:
        result = run(args)
        code = 0
    except JobError as exc:
        result = {"error": str(exc)}
        code = 1
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a result, never a stack trace
        result = {"error": f"unexpected {one_line(exc)}"}
        code = 1
    emit_result(result, started)
    return code


if __name__ == "__main__":
    sys.exit(main())
