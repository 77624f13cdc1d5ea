"""Pure: what a finished job run left behind (its termination message) as data."""

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
