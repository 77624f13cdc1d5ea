"""The model input of a request with `entities`: fetched features and raw columns, checked."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelops.serving_runtime.columns import INT_KINDS, is_null
from modelops.serving_runtime.errors import FeaturesNotFound, InvalidInput, PayloadTooLarge
from modelops.serving_runtime.signature import InputSchema

_LIST_LIMIT = 20  # ids and names quoted in one message
_KIND_NAMES: dict[type | None, str] = {int: "integers", str: "strings"}


def quote(values: list[Any]) -> str:
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:_LIST_LIMIT])
    more = f", ... ({len(values)} in all)" if len(values) > _LIST_LIMIT else ""
    return shown + more


def check_entities(
    value: Any, entity_key: str, max_rows: int, kind: type | None = None
) -> list[Any]:
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
            what = _KIND_NAMES.get(kind, "integers or strings")
            raise InvalidInput(
                f'"entities" must hold {entity_key} values ({what}); entities[{i}] is {v!r}',
                row=i,
            )
    return value


def check_found(
    entity_key: str,
    ids: list[Any],
    values: dict[str, list[Any]],
    needed: list[str],
) -> None:
    """Raise FeaturesNotFound naming the entities the store does not know (every feature
    null) and, for the others, the `needed` features it lacks a value for."""
    names = list(values)
    unknown_rows = [i for i in range(len(ids)) if all(is_null(values[f][i]) for f in names)]
    unknown = list(dict.fromkeys(ids[i] for i in unknown_rows))
    skip = set(unknown_rows)
    missing: dict[str, list[Any]] = {}
    for f in needed:
        lacking = [ids[i] for i, v in enumerate(values[f]) if i not in skip and is_null(v)]
        if lacking:
            missing[f] = list(dict.fromkeys(lacking))
    if not unknown and not missing:
        return
    parts = []
    if unknown:
        parts.append(
            f"no online features for {entity_key} {quote(unknown)} (unknown, expired or not "
            "materialized)"
        )
    for f, lacking in missing.items():
        parts.append(f"no value of feature {f!r} for {entity_key} {quote(lacking)}")
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
            f"model column{'s' if len(unsupplied) > 1 else ''} {quote(unsupplied)} come neither "
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
            f"columns the feature store does not supply ({quote(remaining) or 'none'}), or "
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
                f"column{'s' if len(clash) > 1 else ''} {quote(clash)} come from the feature "
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
                    f"store does not supply are {width} ({quote(remaining) or 'none'})",
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
