"""The JSON merge patch (RFC 7386) that turns one status into another."""

from __future__ import annotations

from typing import Any


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What to send so that `old` becomes `new`: changed keys, and null for each key `new`
    drops. Sending `new` itself would keep every key it lacks (a failed run's `error` under a
    later successful `lastRun`, say): a merge patch only removes what it names as null."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif key not in old or value != before:
            patch[key] = value
    for key in old.keys() - new.keys():
        patch[key] = None
    return patch
