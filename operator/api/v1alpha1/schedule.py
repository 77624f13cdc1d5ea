"""Pieces shared by the scheduled kinds (DriftMonitor, FeatureMaterialization): cron and jobs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from modelops.operator.api.base import KubeModel

# Five cron fields (names of months and days allowed) or a predefined macro, as CronJob takes.
CRON_CEL = (
    r"self.matches('^(@(annually|yearly|monthly|weekly|daily|midnight|hourly)"
    r"|[0-9*/,?A-Za-z-]+([ \t]+[0-9*/,?A-Za-z-]+){4})$')"
)
DURATION_PATTERN = r"^[1-9][0-9]*(s|m|h|d)$"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """A duration DURATION_PATTERN admits (30m, 2h) in seconds."""
    return int(text[:-1]) * _UNIT_SECONDS[text[-1]]


# The CronJob controller names each run `<cronjob>-<minutes since the epoch>` (11 characters),
# and a Job's name must fit a 63-character label value.
MAX_CRONJOB_NAME = 52


def cron_field(description_default: str) -> Any:
    return Field(
        default=description_default,
        min_length=1,
        max_length=128,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": CRON_CEL,
                    "message": "must be a cron expression of 5 fields or a macro like @hourly",
                }
            ]
        },
    )


class JobRuntime(KubeModel):
    """The job container."""

    image: str | None = Field(default=None, max_length=1024)
    """The runtime image; defaults to the operator's MODELOPS_RUNTIME_IMAGE."""
    resources: dict[str, dict[str, str | int]] | None = None
    """Container resources as in a Pod spec; defaults to requests cpu 250m, memory 512Mi and a
    2Gi memory limit."""
    active_deadline_seconds: int = Field(default=3600, ge=30, le=86400)
    """A run taking longer than this is stopped and counted as failed."""
    backoff_limit: int = Field(default=1, ge=0, le=10)
    """Retries of a failed run before the Job is marked failed."""


class ScheduleFields(KubeModel):
    """When runs happen, as in a CronJob (mixed into the scheduled kinds' specs)."""

    time_zone: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$")
    """An IANA time zone for the schedule (e.g. Europe/Paris); the controller's by default."""
    suspend: bool = False
    """Stop scheduling new runs; a running one finishes."""
    concurrency_policy: Literal["Forbid", "Replace", "Allow"] = "Forbid"
    """What to do when a run is due while the last one still runs: skip it (Forbid), stop the
    old one (Replace) or run both (Allow)."""
    successful_jobs_history_limit: int = Field(default=3, ge=0, le=100)
    """Finished successful Jobs kept."""
    failed_jobs_history_limit: int = Field(default=3, ge=0, le=100)
    """Finished failed Jobs kept."""
    starting_deadline_seconds: int | None = Field(default=None, ge=10)
    """A run missed by more than this is skipped."""
    job: JobRuntime = Field(default_factory=JobRuntime)
    """The job container and its limits."""
