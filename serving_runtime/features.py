"""Online features: `entities` in a /predict request become model input columns read from the
Feast online store (FEATURE_REPO, FEATURE_ENTITY_KEY, FEATURE_REFS).

The store is initialised once in the background after the model has loaded, from a writable
copy of the (read-only, ConfigMap-mounted) repo whose definitions are applied to the copy's own
registry, as the materialize job does. Feast is imported there and nowhere else: a deployment
without FEATURE_REPO never imports it (slow, and it sets PROMETHEUS_MULTIPROC_DIR; see
metrics.py). A request reads every entity's features in one batched call, in a thread.

The pure parts (parsing, row assembly, error naming) take no store and are unit-tested alone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelops.serving_runtime.errors import InvalidInput, PayloadTooLarge, ServingError
from modelops.serving_runtime.metrics import LATENCY_BUCKETS, PREFIX, Metrics
from modelops.serving_runtime.settings import FeatureRef, RuntimeSettings, parse_refs
from modelops.serving_runtime.signature import INT_KINDS, InputSchema

log = logging.getLogger("modelops.serving_runtime.features")

LOOKUP_SECONDS = f"{PREFIX}_feature_lookup_duration_seconds"
LOOKUP_ERRORS = f"{PREFIX}_feature_lookup_errors"
_LIST_LIMIT = 20  # ids and names quoted in one message

StoreState = Literal["loading", "ready", "failed"]


# --- errors ----------------------------------------------------------------------------------


class FeaturesNotFound(ServingError):
    """The online store holds no value for some entity ids (unknown, expired or not yet
    materialized): the request cannot be scored as asked."""

    status = 404
    code = "features_not_found"


class FeatureStoreNotReady(ServingError):
    status = 503
    code = "feature_store_not_ready"


class FeatureStoreUnavailable(ServingError):
    """The online store failed or timed out: requests without entities keep working."""

    status = 503
    code = "feature_store_unavailable"


# --- pure helpers ------------------------------------------------------------------------------


def _quote(values: list[Any]) -> str:
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:_LIST_LIMIT])
    more = f", ... ({len(values)} in all)" if len(values) > _LIST_LIMIT else ""
    return shown + more


def check_entities(value: Any, entity_key: str, max_rows: int, kind: type | None = None) -> list:
    """The request's `entities`: a non-empty list of ids (integers or strings; `kind` when the
    entity's value type is known)."""
    if type(value) is not list:
        raise InvalidInput(f'"entities" must be a list of {entity_key} values')
    if not value:
        raise InvalidInput(f'"entities" is empty: no {entity_key} values')
    if len(value) > max_rows:
        raise PayloadTooLarge(
            f"too many rows: {len(value)} entities > {max_rows} allowed per request",
            rows=len(value),
            max_rows=max_rows,
        )
    allowed = (kind,) if kind is not None else (int, str)
    for i, v in enumerate(value):
        if type(v) not in allowed:
            what = {int: "integers", str: "strings"}.get(kind, "integers or strings")  # type: ignore[arg-type]
            raise InvalidInput(
                f'"entities" must hold {entity_key} values ({what}); entities[{i}] is {v!r}',
                row=i,
            )
    return value


def _is_null(v: Any) -> bool:
    return v is None or (type(v) is float and math.isnan(v))


def check_found(
    entity_key: str,
    ids: list[Any],
    values: dict[str, list[Any]],
    needed: list[str],
) -> None:
    """Raise FeaturesNotFound naming the entities the store does not know (every feature
    null) and, for the others, the `needed` features it lacks a value for."""
    names = list(values)
    unknown_rows = [i for i in range(len(ids)) if all(_is_null(values[f][i]) for f in names)]
    unknown = list(dict.fromkeys(ids[i] for i in unknown_rows))
    skip = set(unknown_rows)
    missing: dict[str, list[Any]] = {}
    for f in needed:
        lacking = [ids[i] for i, v in enumerate(values[f]) if i not in skip and _is_null(v)]
        if lacking:
            missing[f] = list(dict.fromkeys(lacking))
    if not unknown and not missing:
        return
    parts = []
    if unknown:
        parts.append(
            f"no online features for {entity_key} {_quote(unknown)} (unknown, expired or not "
            "materialized)"
        )
    for f, lacking in missing.items():
        parts.append(f"no value of feature {f!r} for {entity_key} {_quote(lacking)}")
    raise FeaturesNotFound(
        "; ".join(parts),
        entity_key=entity_key,
        unknown_entities=unknown[:100],
        missing_features={f: v[:100] for f, v in missing.items()},
    )


def _nullable(schema: InputSchema, name: str) -> bool:
    c = schema.columns[schema.names.index(name)]
    ok = (not c.required) if c.required is not None else schema.allow_nan
    return ok and c.kind not in INT_KINDS


def needed_features(schema: InputSchema, features: list[str]) -> list[str]:
    """The fetched features that fill a model column which does not accept nulls."""
    return [f for f in features if f in schema.names and not _nullable(schema, f)]


def assemble(
    schema: InputSchema | None,
    fetched: dict[str, list[Any]],
    raw: Any,
    n: int,
    max_rows: int,
    *,
    entity_key: str = "entity",
    refs: list[str] | None = None,
) -> np.ndarray:
    """The model input in signature column order: the columns named like a fetched feature
    from `fetched`, the others from `raw` (None, or `n` rows as lists in the signature order
    of those remaining columns, or as objects keyed by column)."""
    if schema is None or not schema.named or schema.source == "free":
        raise InvalidInput(
            '"entities" needs a model whose signature names its columns: fetched features are '
            "matched to columns by name"
        )
    from_store = [name for name in schema.names if name in fetched]
    remaining = [c for c in schema.columns if c.name not in fetched]
    columns: dict[str, list[Any]] = {name: list(fetched[name]) for name in from_store}
    if raw is not None:
        columns.update(_raw_columns(raw, [c.name for c in remaining], from_store, n))
    unsupplied = [c.name for c in remaining if c.required and c.name not in columns]
    if unsupplied:
        where = f" (FEATURE_REFS: {', '.join(refs)})" if refs else ""
        raise InvalidInput(
            f"model column{'s' if len(unsupplied) > 1 else ''} {_quote(unsupplied)} come neither "
            f'from the feature store{where} nor from "features"; send '
            f'"features" with {"them" if len(unsupplied) > 1 else "it"} beside "entities"',
            missing=unsupplied[:50],
        )
    if not columns:
        raise InvalidInput('no model column comes from the feature store or from "features"')
    for name in schema.names:
        columns.setdefault(name, [None] * n)
    return schema.from_columns(columns, max_rows)


def _raw_columns(
    raw: Any, remaining: list[str], from_store: list[str], n: int
) -> dict[str, list[Any]]:
    if type(raw) is not list:
        raise InvalidInput(
            '"features" beside "entities" must be a list of rows: lists in the order of the '
            f"columns the feature store does not supply ({_quote(remaining) or 'none'}), or "
            "objects keyed by column"
        )
    if len(raw) != n:
        raise InvalidInput(
            f'"features" has {len(raw)} rows but "entities" has {n}: one row per entity',
            rows=len(raw),
            entities=n,
        )
    kinds = set(map(type, raw))
    if kinds == {dict}:
        store = set(from_store)
        clash = sorted({k for r in raw for k in r if k in store})
        if clash:
            raise InvalidInput(
                f"column{'s' if len(clash) > 1 else ''} {_quote(clash)} come from the feature "
                'store; leave them out of "features"',
                columns=clash[:50],
            )
        wanted = set(remaining)
        seen = {k for r in raw for k in r if k in wanted}
        return {name: [r.get(name) for r in raw] for name in remaining if name in seen}
    if kinds == {list}:
        width = len(remaining)
        for i, row in enumerate(raw):
            if len(row) != width:
                raise InvalidInput(
                    f'"features" row {i} has {len(row)} values but the columns the feature '
                    f"store does not supply are {width} ({_quote(remaining) or 'none'})",
                    row=i,
                    expected=width,
                )
        return {name: [r[j] for r in raw] for j, name in enumerate(remaining)}
    if len(remaining) == 1 and not kinds & {list, dict}:
        # One remaining column: a list of its values.
        return {remaining[0]: list(raw)}
    raise InvalidInput(
        '"features" beside "entities" must hold rows (lists) or records (objects), not a mix '
        "or bare values"
    )


def missing_ref_problems(
    refs: list[FeatureRef], views: dict[str, tuple[list[str], list[str]]], entity_key: str
) -> list[str]:
    """What FEATURE_REFS asks of the registry that it lacks; `views` maps a view's name to
    (its feature names, its join keys)."""
    problems = []
    for ref in refs:
        if ref.view not in views:
            known = ", ".join(sorted(views)) or "none"
            problems.append(f"{ref}: no feature view {ref.view!r} (the registry has: {known})")
            continue
        features, keys = views[ref.view]
        if ref.name not in features:
            problems.append(
                f"{ref}: view {ref.view!r} has no feature {ref.name!r} (it has: "
                f"{', '.join(features)})"
            )
        elif keys and entity_key not in keys:
            problems.append(
                f"{ref}: view {ref.view!r} is keyed by {', '.join(keys)}, not FEATURE_ENTITY_KEY "
                f"{entity_key!r}"
            )
    return problems


# --- the store ------------------------------------------------------------------------------


class FeatureMetrics:
    """The lookup histogram and error counter, in the app's registry."""

    def __init__(self, metrics: Metrics) -> None:
        from prometheus_client import Counter, Histogram

        self.metrics = metrics
        labels = ["model", "version"]
        self.seconds = Histogram(
            LOOKUP_SECONDS,
            "Online feature lookups (one batched read per request), in seconds.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=metrics.registry,
        )
        self.errors = Counter(
            LOOKUP_ERRORS,
            "Failed online feature lookups by reason (not_found, unavailable, not_ready).",
            [*labels, "reason"],
            registry=metrics.registry,
        )

    def lookup(self, seconds: float) -> None:
        self.seconds.labels(self.metrics.model, self.metrics.version).observe(seconds)

    def error(self, reason: str) -> None:
        self.errors.labels(self.metrics.model, self.metrics.version, reason).inc()


def _import_feast() -> Any:
    """Import feast without letting it set PROMETHEUS_MULTIPROC_DIR for child processes: the
    runtime's metrics are already set up (see metrics.multiprocess_dir)."""
    names = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")
    before = {n: os.environ.get(n) for n in names}
    try:
        import feast
    finally:
        for n, v in before.items():
            if v is None:
                os.environ.pop(n, None)
    return feast


class OnlineFeatures:
    """The Feast store behind FEATURE_REPO: initialised once in the background (retried with
    backoff), then read by `lookup` for each request with entities."""

    def __init__(
        self,
        settings: RuntimeSettings,
        metrics: Metrics,
        opener: Callable[[OnlineFeatures], Any] | None = None,
    ) -> None:
        assert settings.feature_repo
        self.settings = settings
        self.repo = settings.feature_repo
        self.entity_key = settings.feature_entity_key
        self.refs = parse_refs(settings.feature_refs)
        self.ref_names = [str(r) for r in self.refs]
        self.names = [r.name for r in self.refs]
        self.metrics = FeatureMetrics(metrics)
        self.timeout = settings.feature_lookup_timeout_ms / 1000.0
        self._opener = opener or open_store
        self.store: Any = None
        self.entity_kind: type | None = None
        self.online_store = "the online store"
        self.state: StoreState = "loading"
        self.reason: str | None = None
        self.attempts = 0
        self.workdir: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A few threads: a slow read must not hold up the next request's read.
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="features")

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(
                target=self._run, name="feature-store-init", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _run(self) -> None:
        s = self.settings
        delay = s.load_retry_initial_seconds
        while not self._stop.is_set():
            self.attempts += 1
            started = time.monotonic()
            try:
                self._opener(self)
            except Exception as e:  # noqa: BLE001 - reported at /ready and retried
                self.reason = f"{type(e).__name__}: {e}"[:2000] if not _own(e) else str(e)
                self.state = "failed"
                wait = delay * random.uniform(0.8, 1.2)
                log.warning(
                    "Could not initialise the feature store",
                    extra={
                        "feature_repo": self.repo,
                        "attempt": self.attempts,
                        "error": self.reason,
                        "retry_in_seconds": round(wait, 2),
                    },
                )
                delay = min(delay * 2, s.load_retry_max_seconds)
                if self._stop.wait(wait):
                    return
                continue
            self.reason = None
            self.state = "ready"
            log.info(
                "Feature store ready",
                extra={
                    "feature_repo": self.repo,
                    "features": self.ref_names,
                    "online_store": self.online_store,
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
            return

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ready": self.state == "ready",
            "state": self.state,
            "repo": self.repo,
            "entity_key": self.entity_key,
            "features": self.ref_names,
            "attempts": self.attempts,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        elif self.state == "loading":
            body["reason"] = (
                "waiting for the model to load"
                if self._thread is None
                else "initialising the feature store"
            )
        return body

    # --- the request path --------------------------------------------------------------------

    async def lookup(self, ids: list[Any]) -> dict[str, list[Any]]:
        """Every FEATURE_REFS feature for `ids`, one list per feature name, in one batched
        read of the online store."""
        store = self.store
        if self.state != "ready" or store is None:
            self.metrics.error("not_ready")
            why = self.reason or "it is still initialising"
            raise FeatureStoreNotReady(f"the feature store ({self.repo}) is not ready: {why}")
        rows = [{self.entity_key: i} for i in ids]
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(
                loop.run_in_executor(self.executor, self._read, store, rows), self.timeout
            )
        except TimeoutError:
            self.metrics.error("unavailable")
            raise FeatureStoreUnavailable(
                f"the feature store's online store ({self.online_store}) did not answer within "
                f"{self.timeout * 1000:.0f} ms"
            ) from None
        except Exception as e:
            self.metrics.error("unavailable")
            log.warning(
                "Online feature lookup failed",
                extra={"online_store": self.online_store, "error": f"{type(e).__name__}: {e}"},
            )
            raise FeatureStoreUnavailable(
                f"the feature store's online store ({self.online_store}) is unavailable: "
                f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
            ) from e
        self.metrics.lookup(time.perf_counter() - started)
        return result

    def _read(self, store: Any, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        values = store.get_online_features(features=self.ref_names, entity_rows=rows).to_dict()
        return {name: values[name] for name in self.names}

    async def model_input(
        self, schema: InputSchema | None, entities: Any, raw: Any, max_rows: int
    ) -> np.ndarray:
        """The model input for a request with `entities` (and maybe raw `features`)."""
        ids = check_entities(entities, self.entity_key, max_rows, self.entity_kind)
        if raw is not None and type(raw) is list and len(raw) != len(ids):
            raise InvalidInput(
                f'"features" has {len(raw)} rows but "entities" has {len(ids)}: one row per entity'
            )
        if schema is None or not schema.named or schema.source == "free":
            # Checked before the read: it would be wasted.
            return assemble(schema, {}, raw, len(ids), max_rows)
        values = await self.lookup(ids)
        try:
            check_found(self.entity_key, ids, values, needed_features(schema, self.names))
        except FeaturesNotFound:
            self.metrics.error("not_found")
            raise
        return assemble(
            schema,
            values,
            raw,
            len(ids),
            max_rows,
            entity_key=self.entity_key,
            refs=self.ref_names,
        )


class _StoreError(Exception):
    """A start-up problem whose message is complete (no exception type prefix)."""


def _own(exc: BaseException) -> bool:
    return isinstance(exc, _StoreError) or type(exc).__name__ == "JobError"


def open_store(features: OnlineFeatures) -> None:
    """Copy the repo, load its definitions into the copy's registry, check FEATURE_REFS
    against it; sets features.store (blocking: runs in the init thread)."""
    from modelops.serving_runtime.jobs import materialize as m

    repo = Path(features.repo)
    config = repo / m.FEATURE_STORE_YAML
    if not config.is_file():
        raise _StoreError(f"FEATURE_REPO {repo} has no {m.FEATURE_STORE_YAML}")
    unset = m.missing_env_refs(config.read_text(), os.environ)
    if unset:
        names = ", ".join(f"${{{n}}}" for n in unset)
        raise _StoreError(
            f"{config} refers to {names}, not set in the environment (the online store "
            "credentials come from a Secret through envFrom)"
        )
    if features.workdir is not None:
        shutil.rmtree(features.workdir, ignore_errors=True)
    features.workdir = tempfile.mkdtemp(prefix="modelops-feature-repo-")
    copy = Path(features.workdir).resolve() / "repo"
    m.copy_repo(repo, copy)
    paths = {str(copy): str(repo)}
    with m.quiet_feast():
        feast = _import_feast()
        try:
            store = feast.FeatureStore(repo_path=str(copy))
        except Exception as exc:  # noqa: BLE001 - yaml, pydantic, unknown store types
            raise _StoreError(
                f"{config} is not a valid Feast configuration: {m.one_line(exc, paths)}"
            ) from exc
        contents = m.load_definitions(copy, paths)
        m.apply_missing(store, contents)
        store.refresh_registry()
        views: dict[str, tuple[list[str], list[str]]] = {}
        for view in store.registry.list_all_feature_views(project=store.project, allow_cache=False):
            keys = list(getattr(view, "join_keys", None) or [])
            views[view.name] = ([f.name for f in view.features], keys)
        problems = missing_ref_problems(features.refs, views, features.entity_key)
        if problems:
            raise _StoreError("FEATURE_REFS does not match the repo: " + "; ".join(problems))
        features.entity_kind = _entity_kind(store, features.entity_key)
    online = store.config.online_store
    kind = getattr(online, "type", None) or type(online).__name__
    endpoint = getattr(online, "connection_string", None)
    features.online_store = (
        f"{kind} at {m.redis_endpoints(endpoint)}" if endpoint else f"{kind} online store"
    )
    features.store = store


def _entity_kind(store: Any, key: str) -> type | None:
    for entity in store.list_entities():
        if getattr(entity, "join_key", None) == key:
            name = getattr(getattr(entity, "value_type", None), "name", "")
            if name in ("INT32", "INT64"):
                return int
            if name == "STRING":
                return str
    return None
