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
from modelops.operator.api.v1alpha1.schedule import (
    CRON_MESSAGE,
    CRON_PATTERN,
    DURATION_MESSAGE,
    DURATION_PATTERN,
    JobRuntime,
    duration_seconds,
)

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


def job(**fields: object) -> JobRuntime:
    return JobRuntime.model_validate(fields)


def test_a_duration_in_range_is_admitted_and_one_outside_is_refused_by_its_bounds() -> None:
    assert job().active_deadline == "1h"
    assert duration_seconds(job(activeDeadline="90m").active_deadline) == 5400
    for outside in ("29s", "2d"):
        with pytest.raises(ValidationError, match="must be between 30s and 1d"):
            job(activeDeadline=outside)
    for malformed in ("1h30m", "90", "0s", "1.5h", "1 h"):
        with pytest.raises(ValidationError, match="activeDeadline|active_deadline"):
            job(activeDeadline=malformed)


def test_the_crd_states_a_durations_form_and_range_as_rules_that_say_what_is_expected() -> None:
    crd = yaml.safe_load(crdgen.rendered_files()["modelops.dev_driftmonitors.yaml"])
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    deadline = spec["properties"]["job"]["properties"]["activeDeadline"]
    form, bounds = deadline["x-kubernetes-validations"]
    assert form == {"rule": cel_matches(DURATION_PATTERN), "message": DURATION_MESSAGE}
    assert bounds["message"] == "must be between 30s and 1d"
    # Checked only on a well-formed value (else the form's message alone), in seconds.
    assert bounds["rule"].startswith(f"!{cel_matches(DURATION_PATTERN)} || (")
    assert ">= 30 &&" in bounds["rule"] and "<= 86400)" in bounds["rule"]
    assert "pattern" not in deadline and deadline["default"] == "1h"


def test_every_duration_of_the_api_is_the_one_string_form() -> None:
    """No `*Seconds` integers beside the durations, except inside Kubernetes' own types."""

    def fields(node: object, path: str) -> list[str]:
        if isinstance(node, dict):
            found = [
                f"{path}.{name}"
                for name, sub in (node.get("properties") or {}).items()
                if name.endswith("Seconds") and sub.get("type") == "integer"
            ]
            return found + [f for key, sub in node.items() for f in fields(sub, f"{path}.{key}")]
        if isinstance(node, list):
            return [f for sub in node for f in fields(sub, path)]
        return []

    integers = [
        f.replace(".properties", "").replace(".items", "[]")
        for name, text in crdgen.rendered_files().items()
        for f in fields(yaml.safe_load(text)["spec"]["versions"][0]["schema"], name)
    ]
    assert integers and all(f.endswith(".tolerations[].tolerationSeconds") for f in integers), (
        integers
    )
