"""What the online feature tests share: a model signature that mixes fetched and raw columns."""

from __future__ import annotations

from modelops.serving_runtime.columns import Column
from modelops.serving_runtime.signature import InputSchema

SCHEMA = InputSchema(
    columns=(
        Column("avg_amount_30d", "double"),
        Column("amount", "double"),
        Column("txn_count_7d", "long"),
        Column("channel", "string", required=False),
    ),
    source="columns",
)
