"""A CronJob for the runtime image's batch jobs (drift, materialize), hardened like serving."""

from __future__ import annotations

from typing import Any

from modelops.operator.api.v1alpha1.schedule import JobRuntime, ScheduleFields, duration_seconds
from modelops.operator.resources.common import (
    child_metadata,
    common_labels,
    container_security_context,
    owner_label,
    pod_options,
    pod_security_context,
    tmp_volume,
)
from modelops.operator.settings import OperatorSettings

DEFAULT_JOB_RESOURCES: dict[str, dict[str, str | int]] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "2Gi"},
}
# The job writes its JSON result here; the operator reads it from the finished pod's status,
# so the job needs no API rights at all.
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
# The runtime's jobs exit 2 on a usage error and 3 on bad input (flags, repo or data): running
# the same pod again fails the same way, so the Job fails at once rather than after
# backoffLimit retries. Any other failure (1, a crash, OOM) is retried.
BAD_INPUT_EXIT_CODES = (2, 3)


def pod_failure_policy(container: str, bad_input_exit_codes: tuple[int, ...]) -> dict[str, Any]:
    """Fail the Job at once on bad input; a pod evicted or preempted (a disruption, not the
    job's fault) is retried without counting against backoffLimit."""
    rules: list[dict[str, Any]] = []
    if bad_input_exit_codes:
        rules.append(
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": container,
                    "operator": "In",
                    "values": list(bad_input_exit_codes),
                },
            }
        )
    rules.append(
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    )
    return {"rules": rules}


def job_spec(
    name: str,
    job: JobRuntime,
    component: str,
    args: list[str],
    env: list[dict[str, Any]],
    settings: OperatorSettings,
    extra_volumes: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
    env_from: list[dict[str, Any]] | None = None,
    bad_input_exit_codes: tuple[int, ...] = BAD_INPUT_EXIT_CODES,
) -> dict[str, Any]:
    """A Job's spec running the runtime image with `args`, hardened like serving; exit codes
    `bad_input_exit_codes` fail it without retries."""
    pod_labels = {**common_labels(name, component), owner_label(component): name}
    tmp, tmp_mount = tmp_volume()
    volumes, mounts = [tmp], [tmp_mount]
    for volume, mount in extra_volumes or []:
        volumes.append(volume)
        mounts.append(mount)
    container = {
        "name": component,
        "image": job.image or settings.runtime_image,
        "args": args,
        "env": env,
        "resources": job.resources or DEFAULT_JOB_RESOURCES,
        "securityContext": container_security_context(),
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        # A crash before the result is written still leaves its last log lines as the message.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    if env_from:
        container["envFrom"] = env_from
    return {
        "backoffLimit": job.backoff_limit,
        "podFailurePolicy": pod_failure_policy(component, bad_input_exit_codes),
        "activeDeadlineSeconds": duration_seconds(job.active_deadline),
        "ttlSecondsAfterFinished": 86400,
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "securityContext": pod_security_context(),
                "containers": [container],
                "volumes": volumes,
                **pod_options(job, {owner_label(component): name}),
            },
        },
    }


def build_job(
    owner: dict[str, Any],
    job_name: str,
    job: JobRuntime,
    component: str,
    args: list[str],
    env: list[dict[str, Any]],
    settings: OperatorSettings,
    env_from: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A one-off Job owned by `owner` (a rollout's validation)."""
    name = owner["metadata"]["name"]
    labels = {**common_labels(name, component), owner_label(component): name}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": child_metadata(owner, job_name, labels),
        "spec": job_spec(name, job, component, args, env, settings, env_from=env_from),
    }


def build_cronjob(
    owner: dict[str, Any],
    spec: ScheduleFields,
    schedule: str,
    component: str,
    suffix: str,
    args: list[str],
    env: list[dict[str, Any]],
    settings: OperatorSettings,
    extra_volumes: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    name = owner["metadata"]["name"]
    labels = common_labels(name, component)
    # Per kind, so that a DriftMonitor and a FeatureMaterialization of one name do not claim
    # one CronJob; the kinds' CEL name limits keep it short enough (schedule.MAX_CRONJOB_NAME).
    cron_name = f"{name}-{suffix}"
    pod_labels = {**labels, owner_label(component): name}
    cron_spec: dict[str, Any] = {
        "schedule": schedule,
        "suspend": spec.suspend,
        "concurrencyPolicy": spec.concurrency_policy,
        "successfulJobsHistoryLimit": spec.successful_jobs_history_limit,
        "failedJobsHistoryLimit": spec.failed_jobs_history_limit,
        "jobTemplate": {
            "metadata": {"labels": pod_labels},
            "spec": job_spec(name, spec.job, component, args, env, settings, extra_volumes),
        },
    }
    if spec.time_zone:
        cron_spec["timeZone"] = spec.time_zone
    if spec.starting_deadline is not None:
        cron_spec["startingDeadlineSeconds"] = duration_seconds(spec.starting_deadline)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": child_metadata(owner, cron_name, labels),
        "spec": cron_spec,
    }
