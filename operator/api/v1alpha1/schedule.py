"""Pieces shared by the scheduled kinds (DriftMonitor, FeatureMaterialization): cron and jobs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from modelops.operator.api.base import KubeModel, cel_matches, matching
from modelops.operator.api.v1alpha1.pod import PodOptions


def _cron_field(value: str, question: bool = False) -> str:
    """One field: a comma list of `*` or a value or range, each with an optional /step
    (`?` alone too, for the day fields), as the CronJob controller's parser takes them."""
    item = rf"(\*|{value}(-{value})?)(/[1-9][0-9]?)?"
    whole = rf"{item}(,{item})*"
    return rf"(\?|{whole})" if question else whole


_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"
# Each field within its range (minute 0-59, hour 0-23, day 1-31, month 1-12 or JAN-DEC, day of
# week 0-7 or SUN-SAT, names in any case), or a predefined macro (lower case, as the CronJob
# controller matches them): `99 * * * *` is refused at admission, not left as a CronJob that
# never runs.
CRON_FIELDS = [
    _cron_field("[0-5]?[0-9]"),
    _cron_field("([01]?[0-9]|2[0-3])"),
    _cron_field("(0?[1-9]|[12][0-9]|3[01])", question=True),
    _cron_field(f"(0?[1-9]|1[0-2]|{_MONTHS})"),
    _cron_field(f"([0-7]|{_DAYS})", question=True),
]
CRON_PATTERN = (
    r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly)|(?i:"
    + r"[ \t]+".join(CRON_FIELDS)
    + "))$"
)
CRON_MESSAGE = (
    "must be a cron expression: minute (0-59) hour (0-23) day of month (1-31) month (1-12 or "
    "JAN-DEC) day of week (0-7 or SUN-SAT), each a value, range, list or * with an optional "
    "/step; or a macro like @hourly"
)

DURATION_PATTERN = r"^[1-9][0-9]*(s|m|h|d)$"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


DURATION_MESSAGE = "must be a duration: a whole number and a unit, s, m, h or d (30s, 5m, 2h, 7d)"
# The same arithmetic in CEL, for the range rules the apiserver checks at admission.
_CEL_SECONDS = (
    "int(self.substring(0, size(self) - 1)) * (self.endsWith('d') ? 86400 : "
    "self.endsWith('h') ? 3600 : self.endsWith('m') ? 60 : 1)"
)


def duration_seconds(text: str) -> int:
    """A duration DURATION_PATTERN admits (30m, 2h) in seconds."""
    return int(text[:-1]) * _UNIT_SECONDS[text[-1]]


def duration(at_least: str, at_most: str) -> tuple[Any, ...]:
    """A duration field's metadata, `Annotated[str, *duration("1s", "7d")]`: every duration of
    the API is a string of this one form (as Flux and Argo Rollouts write them), checked for its
    form and range by pydantic and, in the CRD, by CEL rules whose messages say what is
    expected. Only Kubernetes' own embedded types (a toleration's tolerationSeconds) keep
    Kubernetes' integer seconds."""
    low, high = duration_seconds(at_least), duration_seconds(at_most)
    message = f"must be between {at_least} and {at_most}"

    def within(value: str) -> str:
        if not low <= duration_seconds(value) <= high:
            raise ValueError(message)
        return value

    # Guarded by the form: a value that is not a duration gets the form's message alone.
    in_range = f"{_CEL_SECONDS} >= {low} && {_CEL_SECONDS} <= {high}"
    rule = {"rule": f"!{cel_matches(DURATION_PATTERN)} || ({in_range})", "message": message}
    field = matching(DURATION_PATTERN, DURATION_MESSAGE, max_length=12, rules=[rule])
    return field, AfterValidator(within)


# The CronJob controller names each run `<cronjob>-<minutes since the epoch>` (11 characters),
# and a Job's name must fit a 63-character label value.
MAX_CRONJOB_NAME = 52


def cron_field(description_default: str) -> Any:
    return matching(
        CRON_PATTERN, CRON_MESSAGE, default=description_default, min_length=1, max_length=128
    )


class JobRuntime(PodOptions):
    """The job's container and pod."""

    image: str | None = Field(default=None, max_length=1024)
    """The runtime image; defaults to the operator's MODELOPS_RUNTIME_IMAGE."""
    resources: dict[str, dict[str, str | int]] | None = None
    """Container resources as in a Pod spec; defaults to requests cpu 250m, memory 512Mi and a
    2Gi memory limit."""
    active_deadline: Annotated[str, *duration("30s", "1d")] = "1h"
    """A run taking longer than this is stopped and counted as failed (the Job's
    activeDeadlineSeconds)."""
    backoff_limit: int = Field(default=1, ge=0, le=10)
    """Retries of a failed run before the Job is marked failed. A run that fails on bad input
    (its flags, repo or data: exit code 2 or 3) fails the Job at once; an evicted pod is
    retried without counting."""


class ScheduleFields(KubeModel):
    """When runs happen, as in a CronJob (mixed into the scheduled kinds' specs)."""

    time_zone: str | None = matching(
        r"^[A-Za-z0-9_+/-]+$",
        "must be an IANA time zone name, e.g. Europe/Paris or UTC",
        default=None,
        max_length=64,
    )
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
    starting_deadline: Annotated[str, *duration("10s", "7d")] | None = None
    """A run missed by more than this is skipped (the CronJob's startingDeadlineSeconds)."""
    job: JobRuntime = Field(default_factory=JobRuntime)
    """The job container and its limits."""
