"""Opening the served Feast store: FEATURE_REPO bootstrapped, FEATURE_REFS checked against it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from modelops.serving_runtime.errors import JobError
from modelops.serving_runtime.features import repo as feature_repo
from modelops.serving_runtime.settings import FeatureRef


class StoreHolder(Protocol):
    """What open_store reads (the repo, refs, key) and sets (the store and what it learnt)."""

    repo: str
    refs: list[FeatureRef]
    entity_key: str
    workdir: str | None
    store: Any
    entity_kind: type | None
    online_store: str


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


def open_store(features: StoreHolder) -> None:
    """Copy the repo, load its definitions into the copy's registry, check FEATURE_REFS
    against it; sets features.store (blocking: runs in the init thread)."""
    repo = Path(features.repo)
    config = repo / feature_repo.FEATURE_STORE_YAML
    if not config.is_file():
        raise JobError(f"FEATURE_REPO {repo} has no {feature_repo.FEATURE_STORE_YAML}")
    unset = feature_repo.unset_env_refs(config.read_text())
    if unset:
        raise JobError(
            f"{config} refers to {unset}, not set in the environment (the online store "
            "credentials come from a Secret through envFrom)"
        )
    if features.workdir is not None:
        shutil.rmtree(features.workdir, ignore_errors=True)
    features.workdir = tempfile.mkdtemp(prefix="modelops-feature-repo-")
    copy = Path(features.workdir).resolve() / "repo"
    feature_repo.copy_repo(repo, copy)
    paths = {str(copy): str(repo)}
    with feature_repo.quiet_feast():
        # Before open_store imports it: feast is then loaded without its environment change.
        feature_repo.import_feast()
        store = feature_repo.open_store(copy, paths)
        contents = feature_repo.load_definitions(copy, paths)
        feature_repo.apply_missing(store, contents)
        store.refresh_registry()
        views: dict[str, tuple[list[str], list[str]]] = {}
        for view in store.registry.list_all_feature_views(project=store.project, allow_cache=False):
            keys = list(getattr(view, "join_keys", None) or [])
            views[view.name] = ([f.name for f in view.features], keys)
        problems = missing_ref_problems(features.refs, views, features.entity_key)
        if problems:
            raise JobError("FEATURE_REFS does not match the repo: " + "; ".join(problems))
        features.entity_kind = _entity_kind(store, features.entity_key)
    online = store.config.online_store
    kind = getattr(online, "type", None) or type(online).__name__
    endpoint = getattr(online, "connection_string", None)
    where = f"at {feature_repo.redis_endpoints(endpoint)}" if endpoint else "online store"
    features.online_store = f"{kind} {where}"
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
