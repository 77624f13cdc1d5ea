"""The JSON merge patch (RFC 7386) that writes a whole new status over an older one."""

from __future__ import annotations

from typing import Any


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` whole, plus null for each key of `old` that `new` drops (nested too). Sending
    `new` alone would keep every key it lacks (a failed run's `error` under a later successful
    `lastRun`, say): a merge patch only removes what it names as null. Every value of `new`
    is sent even when `old` has it: `old` is the status as this pass read it, which another
    pass may have changed since, and a status is one consistent snapshot."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            patch[key] = merge_patch(before, value)
        else:
            patch[key] = value
    for key in old.keys() - new.keys():
        patch[key] = None
    return patch
