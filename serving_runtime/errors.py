"""Domain errors: what serving reports to clients, and what jobs report as their result."""

from __future__ import annotations

from typing import Any


class ServingError(Exception):
    """A failure with a stable code, an HTTP status and a message meant for the client."""

    status = 500
    code = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers."""
        return {}


class InvalidInput(ServingError):
    """The request does not fit the protocol or the model's signature."""

    status = 400
    code = "invalid_input"


class MalformedBody(InvalidInput):
    code = "malformed_body"


class PredictionRejected(InvalidInput):
    """The model itself refused the (validated) input, e.g. an unseen category."""

    code = "prediction_rejected"


class PayloadTooLarge(ServingError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServingError):
    status = 415
    code = "unsupported_media_type"


class ModelNotFound(ServingError):
    status = 404
    code = "model_not_found"


class ModelNotReady(ServingError):
    status = 503
    code = "model_not_ready"


class Overloaded(ServingError):
    """More requests, or more queued rows, than the server takes at once: an answer now, so
    the client can retry or go elsewhere, instead of a queue that grows until the pod is
    OOM-killed with every request in it."""

    status = 503
    code = "overloaded"
    retry_after_seconds = 1

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class DeadlineExceeded(ServingError):
    """The request was not answered within REQUEST_TIMEOUT_MS; its work is abandoned."""

    status = 504
    code = "deadline_exceeded"


class PredictionFailed(ServingError):
    """The model crashed on input it accepted: a server-side fault."""

    status = 500
    code = "prediction_failed"


class FeaturesNotFound(ServingError):
    """The online store holds no value for some entity ids (unknown, expired or not yet
    materialized): the request cannot be scored as asked."""

    status = 404
    code = "features_not_found"


class FeatureStoreNotReady(ServingError):
    status = 503
    code = "feature_store_not_ready"


class FeatureStoreUnavailable(ServingError):
    """The online store failed or timed out: requests without entities keep working."""

    status = 503
    code = "feature_store_unavailable"


class UnsafeModel(Exception):
    """The model needs what this deployment does not allow: loading it would run code from the
    artifact (pickle, cloudpickle, a python_function class) or trust types the platform did
    not list (skops). `reason` is the code /ready shows."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class JobError(Exception):
    """A failure reported by its message alone, without a stack trace: a batch job's result
    (`error`, exit code 1: a retry may succeed), or why the feature store could not be set up
    (at /ready)."""


class BadInput(JobError):
    """A job's flags, repo or data are wrong: running it again as it is fails the same way.
    Exit code 3, which the Job's podFailurePolicy turns into a failed Job at once instead of
    backoffLimit retries."""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or while handling."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in found):
        found.append(current)
        # `raise ... from None` hides the context: so does this walk.
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return found


def _unreachable(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError | TimeoutError) or any(
        word in type(exc).__name__ for word in ("Connection", "Timeout")
    )


def reason_code(exc: BaseException, unavailable: str, failed: str) -> str:
    """A CamelCase code for a failed load, fit for anyone who can reach /ready. The exception's
    text stays in the logs: it can name hosts, paths or a credentialed URL."""
    if isinstance(exc, UnsafeModel):
        return exc.reason
    if getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
        return "ModelNotFound"
    if isinstance(exc, ImportError):
        return "DependencyMissing"
    if isinstance(exc, JobError):
        return "FeatureRepoInvalid"
    if any(_unreachable(e) for e in _chain(exc)):
        # MLflow's client wraps the connection error of requests in an MlflowException.
        return unavailable
    return failed
