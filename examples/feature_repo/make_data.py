"""Synthetic data for the example repo: `python make_data.py [PATH] [--rows N] [--end ISO]`.

Writes a parquet file of customer rows (customer_id, event_timestamp, created and the
features of customer_stats): `rows` rows over `entities` customers, each customer's rows
spread evenly over `span` before `end`. Not a feature definition: .feastignore keeps Feast
from importing it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "customers.parquet"


def make_frame(
    rows: int,
    end: datetime,
    *,
    entities: int | None = None,
    span: timedelta = timedelta(days=3),
    seed: int = 0,
) -> pd.DataFrame:
    """`rows` rows for `entities` customers (default: rows // 10, at least 1), every event
    strictly before `end` (timezone-aware UTC)."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    entities = entities or max(1, rows // 10)
    rng = np.random.default_rng(seed)
    index = np.arange(rows)
    customer = index % entities + 1
    per = -(-rows // entities)  # rows per customer, rounded up
    slot = index // entities  # 0 .. per-1: the customer's nth row, oldest first
    step = span / per
    # Each row sits at a random point inside its customer's slot, so windows cut the rows of
    # different customers at different places and rows never share a timestamp.
    offset_us = (slot + rng.uniform(0.05, 0.95, rows)) * (step / timedelta(microseconds=1))
    start = end.astimezone(UTC) - span
    event = pd.Timestamp(start) + pd.to_timedelta(offset_us.astype("int64"), unit="us")
    return pd.DataFrame(
        {
            "customer_id": customer.astype("int64"),
            "event_timestamp": event,
            "created": event + pd.Timedelta(seconds=1),
            "avg_amount_30d": rng.gamma(2.0, 40.0, rows).astype("float32"),
            "txn_count_7d": rng.poisson(12, rows).astype("int64"),
            "account_age_days": (customer * 7 % 3650 + slot).astype("int64"),
        }
    )


def make_data(
    path: Path,
    rows: int,
    end: datetime,
    *,
    entities: int | None = None,
    span: timedelta = timedelta(days=3),
    seed: int = 0,
) -> pd.DataFrame:
    """Write make_frame(...) to `path` as parquet (creating its folder) and return it."""
    frame = make_frame(rows, end, entities=entities, span=span, seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return frame


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--entities", type=int, default=None)
    parser.add_argument("--span-hours", type=float, default=72.0)
    parser.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=None,
        help="ISO 8601 time after the last event (default: now, UTC)",
    )
    args = parser.parse_args(argv)
    end = args.end or datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    frame = make_data(
        args.path, args.rows, end, entities=args.entities, span=timedelta(hours=args.span_hours)
    )
    print(f"wrote {len(frame)} rows for {frame['customer_id'].nunique()} customers to {args.path}")


if __name__ == "__main__":
    main()
