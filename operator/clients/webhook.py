"""Outgoing webhooks: a JSON POST with a deadline."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def post(url: str, payload: dict[str, Any], timeout: float) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.status >= 300:
            raise ValueError(f"HTTP {response.status}")
