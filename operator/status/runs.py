"""Pure: what a finished job run left behind (its pod's termination message, the Job's failure)
as data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def parse_result(message: str | None) -> dict[str, Any] | None:
    """The job's JSON result from a termination message; a non-JSON message (the log tail
    kept by FallbackToLogsOnError after a crash) becomes an error result."""
    if not message or not message.strip():
        return None
    text = message.strip()
    try:
        doc = json.loads(text.splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"the job crashed: {text[-500:]}"}
    if not isinstance(doc, dict):
        return {"error": f"the job wrote an unexpected result: {text[-300:]}"}
    return doc


def parse_time(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).replace(microsecond=0)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


def terminated_message(pod: dict[str, Any]) -> str | None:
    """What the pod's container left as its termination message."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated and terminated.get("message"):
            return str(terminated["message"])
    return None


def pod_result(pod: dict[str, Any], owner_label: str) -> tuple[str, str, dict[str, Any]] | None:
    """(owner name, job name, result) of a finished run's pod; None while it runs or when it
    is not one of ours."""
    if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
        return None
    labels = (pod.get("metadata") or {}).get("labels") or {}
    owner = labels.get(owner_label)
    job_name = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
    doc = parse_result(terminated_message(pod))
    if owner is None or job_name is None or doc is None:
        return None
    return owner, job_name, doc


def job_failure(job: dict[str, Any], owner_label: str) -> tuple[str, dict[str, Any]] | None:
    """(owner name, error result) of a Job that failed as a whole (deadline, image pull, OOM),
    which its pods may never report."""
    conds = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []}
    failed = conds.get("Failed")
    owner = ((job.get("metadata") or {}).get("labels") or {}).get(owner_label)
    if not failed or failed.get("status") != "True" or owner is None:
        return None
    reason = failed.get("reason") or "Failed"
    return owner, {"error": f"the Job failed ({reason}): {failed.get('message') or 'no message'}"}


def controller(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The controller ownerReference of an object, if any."""
    for ref in ((obj or {}).get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def _uid(obj: dict[str, Any] | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("uid")


def made_by(child: dict[str, Any] | None, parent: dict[str, Any] | None, kind: str) -> bool:
    """Whether `parent` (a `kind`) is `child`'s controller, by UID: a name can be reused."""
    ref = controller(child)
    return (
        parent is not None
        and ref is not None
        and ref.get("kind") == kind
        and ref.get("uid") == _uid(parent)
    )


def run_owner(
    job: dict[str, Any] | None, cron: dict[str, Any] | None, owner_kind: str
) -> tuple[str, str] | None:
    """(name, uid) of the object that scheduled a Job, when the chain holds by UID: the Job is
    the CronJob's and the CronJob an `owner_kind`'s. A Job made by hand with the right labels
    leads nowhere, and its result is not taken (a pod must also be the Job's: `made_by`)."""
    if not made_by(job, cron, "CronJob"):
        return None
    ref = controller(cron)
    if ref is None or ref.get("kind") != owner_kind or not ref.get("uid"):
        return None
    return str(ref["name"]), str(ref["uid"])


def kubelet_times(pod: dict[str, Any], doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The result with its start and completion times taken from the kubelet's own record of
    the container, never later than now: a job cannot date its result into the future."""
    out = dict(doc)
    stamp = now.isoformat().replace("+00:00", "Z")
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        for key, field in (("startTime", "startedAt"), ("completionTime", "finishedAt")):
            value = terminated.get(field)
            when = parse_time(value, now) if value else now
            out[key] = min(when, now).isoformat().replace("+00:00", "Z")
        return out
    out["startTime"] = out["completionTime"] = stamp
    return out
