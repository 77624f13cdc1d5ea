"""Customer features for the modelops demo: one entity, one file source, one feature view.

The source's path comes from FEAST_DATA_PATH (a local path or a URL Feast's file offline store
can read, e.g. s3://bucket/customers.parquet), so the ConfigMap that ships this repo need not
carry data. Unset, it is data/customers.parquet relative to the repo, where make_data.py writes.
"""

import os
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Int64

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.INT64,
    description="A customer of the demo shop.",
)

customer_source = FileSource(
    name="customer_source",
    path=os.environ.get("FEAST_DATA_PATH") or "data/customers.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

customer_stats = FeatureView(
    name="customer_stats",
    entities=[customer],
    ttl=timedelta(days=7),
    schema=[
        Field(name="customer_id", dtype=Int64),
        Field(name="avg_amount_30d", dtype=Float32),
        Field(name="txn_count_7d", dtype=Int64),
        Field(name="account_age_days", dtype=Int64),
    ],
    online=True,
    source=customer_source,
    tags={"team": "modelops-demo"},
)
