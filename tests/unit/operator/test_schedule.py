"""The cron rule of the scheduled kinds: each field within its range, as the CronJob
controller parses it (the CRD's CEL rule is this regex; RE2 and Python agree on it)."""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic import ValidationError

from modelops.operator.api import crdgen
from modelops.operator.api.base import cel_matches
from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitorSpec
from modelops.operator.api.v1alpha1.schedule import CRON_MESSAGE, CRON_PATTERN, duration_seconds

ADMITTED = [
    "* * * * *",
    "*/5 * * * *",
    "0 0 1 1 0",
    "59 23 31 12 7",
    "5-59/10 0-23 1,15 jan-mar MON-fri",
    "0 9 ? * SUN",
    "0\t0 *\t* *",
    "@hourly",
    "@midnight",
]
REFUSED = [
    "99 * * * *",  # minute past 59
    "0 24 * * *",
    "0 0 0 * *",  # days of the month start at 1
    "0 0 32 * *",
    "0 0 1 13 *",
    "0 0 * * 8",
    "*/0 * * * *",  # a step of 0 never fires
    "* * * *",
    "* * * * * *",  # seconds are not a CronJob field
    "? * * * *",
    "0 0 * JANUARY *",
    "@sometimes",
    "@Daily",
    "TZ=UTC 0 0 * * *",  # CronJob refuses TZ= in the schedule: spec.timeZone says it
    "",
]


@pytest.mark.parametrize("schedule", ADMITTED)
def test_each_field_in_its_range_is_admitted(schedule: str) -> None:
    assert re.match(CRON_PATTERN, schedule)


@pytest.mark.parametrize("schedule", REFUSED)
def test_a_field_out_of_range_or_a_malformed_schedule_is_refused(schedule: str) -> None:
    assert not re.match(CRON_PATTERN, schedule)


def test_the_crd_refuses_with_the_same_regex_and_names_each_fields_range() -> None:
    crd = yaml.safe_load(crdgen.rendered_files()["modelops.dev_driftmonitors.yaml"])
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    schedule = spec["properties"]["schedule"]
    assert "pattern" not in schedule
    assert schedule["x-kubernetes-validations"] == [
        {"rule": cel_matches(CRON_PATTERN), "message": CRON_MESSAGE}
    ]
    assert "minute (0-59)" in CRON_MESSAGE


def test_the_model_refuses_it_too() -> None:
    with pytest.raises(ValidationError, match="schedule"):
        DriftMonitorSpec.model_validate(
            {"modelDeploymentRef": {"name": "m"}, "schedule": "99 * * * *"}
        )


def test_durations_are_read_in_seconds() -> None:
    assert [duration_seconds(d) for d in ("30s", "30m", "2h", "1d")] == [30, 1800, 7200, 86400]
