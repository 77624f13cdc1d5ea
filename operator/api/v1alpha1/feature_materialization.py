"""FeatureMaterialization: scheduled Feast materialization into the online store."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from modelops.operator.api.base import (
    API_VERSION,
    Condition,
    CrdInfo,
    KubeModel,
    ObjectRef,
    PrinterColumn,
    condition_columns,
    matching,
    message_column,
)
from modelops.operator.api.v1alpha1.schedule import (
    DURATION_PATTERN,
    MAX_CRONJOB_NAME,
    ScheduleFields,
    cron_field,
)


class FeatureStoreRef(KubeModel):
    """Where the Feast feature repository (feature_store.yaml and definitions) comes from."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.configMapRef) != has(self.path)",
                    "message": "featureStore: set exactly one of configMapRef or path",
                }
            ]
        }
    }

    config_map_ref: ObjectRef | None = None
    """A ConfigMap whose keys are the repo's files (feature_store.yaml, *.py)."""
    path: str | None = matching(
        r"^/\S*$", "must be an absolute path", default=None, max_length=1024
    )
    """An absolute path to the repo inside the runtime image."""
    secret_ref: ObjectRef | None = None
    """A Secret passed to the job as environment (online-store credentials, referenced from
    feature_store.yaml as ${VAR}); never inline."""


class Window(KubeModel):
    """A backfill window."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.start < self.end",
                    "message": "window.start must be before window.end",
                }
            ]
        }
    }

    start: datetime
    """The first event time to materialize (RFC 3339)."""
    end: datetime
    """The event time to materialize up to (RFC 3339)."""


class FeatureMaterializationSpec(ScheduleFields):
    """The desired state of a FeatureMaterialization."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.mode == 'window' ? has(self.window) : !has(self.window)",
                    "message": "mode window needs a window; mode incremental takes none",
                }
            ]
        }
    }

    feature_store: FeatureStoreRef
    """The feature repository."""
    feature_views: list[str] | None = Field(default=None, max_length=200)
    """The feature views to materialize; all of the repo's by default."""
    schedule: str = cron_field("*/15 * * * *")
    """When to materialize, in cron syntax (default every 15 minutes)."""
    mode: Literal["incremental", "window"] = "incremental"
    """incremental: from where the last run stopped up to now; window: a fixed backfill."""
    window: Window | None = None
    """The backfill window, for mode window."""
    max_staleness: str = Field(
        default="1h",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self.matches('{DURATION_PATTERN}')",
                    "message": "maxStaleness must be a duration like 30m, 1h or 1d",
                }
            ]
        },
    )
    """The freshness objective: Stale=True when now - materializedUntil exceeds it."""


class ViewFreshness(KubeModel):
    """How far one feature view is materialized."""

    name: str
    """The feature view."""
    materialized_until: datetime | None = None
    """The event time it is materialized up to."""


class MaterializationRun(KubeModel):
    """One run's outcome."""

    job_name: str | None = None
    """The Job that ran it."""
    start_time: datetime | None = None
    """When the run started."""
    completion_time: datetime | None = None
    """When it finished."""
    feature_views: list[str] | None = None
    """The views it materialized."""
    materialized_until: datetime | None = None
    """The oldest of the views' materialized-until times after the run."""
    error: str | None = None
    """Why it failed, when it did."""


class FeatureMaterializationStatus(KubeModel):
    """The observed state of a FeatureMaterialization, written only by the operator."""

    observed_generation: int | None = None
    """The metadata.generation the status describes."""
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready (the summary), LastRunSucceeded, Stale."""
    cron_job_name: str | None = None
    """The CronJob that schedules the runs."""
    materialized_until: datetime | None = None
    """The oldest materialized-until time over the views."""
    view_count: int | None = None
    """How many views the last run materialized."""
    last_run: MaterializationRun | None = None
    """The latest finished run."""
    feature_views: list[ViewFreshness] | None = None
    """Freshness per feature view."""


class FeatureMaterialization(KubeModel):
    """Scheduled Feast materialization into the online store, with freshness in status."""

    api_version: Literal["modelops.dev/v1alpha1"] = API_VERSION
    kind: Literal["FeatureMaterialization"] = "FeatureMaterialization"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: FeatureMaterializationSpec
    status: FeatureMaterializationStatus | None = None


# The CronJob is <name>-features: a DriftMonitor and a FeatureMaterialization of one name
# must not claim the same one.
CRONJOB_SUFFIX = "features"

CRD_INFO = CrdInfo(
    kind="FeatureMaterialization",
    plural="featurematerializations",
    singular="featurematerialization",
    short_names=("fm",),
    columns=(
        *condition_columns(
            PrinterColumn("Views", ".status.viewCount", "integer"),
            PrinterColumn("Schedule", ".spec.schedule"),
            PrinterColumn("Materialized Until", ".status.materializedUntil", "date"),
            PrinterColumn("Stale", '.status.conditions[?(@.type=="Stale")].status'),
            PrinterColumn("Last Run", ".status.lastRun.completionTime", "date", priority=1),
        ),
        message_column(),
        PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
    ),
    max_name_length=MAX_CRONJOB_NAME - len(CRONJOB_SUFFIX) - 1,
    name_rule="its CronJob is NAME-features and each run's Job name must fit a label",
)
