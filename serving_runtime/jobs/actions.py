"""The onDrift actions, taken by the drift job itself: the job's pod runs in the tenant's
namespace, under its network policies and with the credentials its spec gave it, so neither
the webhook nor the registry write happens with the operator's reach or rights. A failed
action is reported in the result, never a failed run."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

WEBHOOK_ENV = "ON_DRIFT_WEBHOOK_URL"
"""The webhook URL, from the DriftMonitor's webhookSecretRef (never a command-line flag)."""
WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_ATTEMPTS = 3


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is the answer, not a pointer to follow elsewhere


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float = WEBHOOK_TIMEOUT_SECONDS,
    attempts: int = WEBHOOK_ATTEMPTS,
    sleep: Any = time.sleep,
) -> dict[str, Any]:
    """POST the payload as JSON: http(s) only, no redirects, a deadline per attempt, a few
    attempts with backoff on connection errors and 5xx. Returns {"ok", "status"?, "error"?};
    the error never repeats the URL (it may hold a token)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        return {
            "ok": False,
            "error": f"the webhook URL's scheme must be http or https, not {scheme!r}",
        }
    opener = urllib.request.build_opener(_NoRedirects)
    body = json.dumps(payload, default=str).encode()
    error = "not attempted"
    for attempt in range(attempts):
        if attempt:
            sleep(2**attempt)
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with opener.open(request, timeout=timeout) as response:
                return {"ok": True, "status": int(response.status)}
        except urllib.error.HTTPError as e:
            e.close()
            if e.code < 500:
                return {"ok": False, "status": e.code, "error": f"the webhook answered {e.code}"}
            error = f"the webhook answered {e.code}"
        except (OSError, ValueError) as e:
            error = f"the webhook could not be reached ({type(e).__name__})"
    return {"ok": False, "error": f"{error} after {attempts} attempts"}


def tag_model_version(
    model_uri: str, tracking_uri: str | None, tags: dict[str, str]
) -> dict[str, Any]:
    """Tag the registered version a models:/NAME/VERSION URI names."""
    name, _, version = model_uri.removeprefix("models:/").partition("/")
    if not name or not version.isdigit():
        return {"ok": False, "error": f"{model_uri} names no registered version"}
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri)
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
    except Exception as e:  # a failed action is reported, never a failed run
        return {"ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    return {"ok": True, "version": f"{name}/{version}"}
