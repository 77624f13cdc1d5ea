"""Turning an event's body into the typed object, for every kind alike."""

from __future__ import annotations

from typing import Any, TypeVar

import kopf
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)


def parse(model: type[T], body: dict[str, Any]) -> T:
    """The typed object; a body that passed the CRD schema but not the model fails the same way
    on every retry, so that is a PermanentError."""
    try:
        return model.model_validate(
            {
                "apiVersion": body.get("apiVersion"),
                "kind": body.get("kind"),
                "metadata": dict(body["metadata"]),
                "spec": dict(body.get("spec") or {}),
                "status": dict(body.get("status") or {}) or None,
            }
        )
    except ValidationError as e:
        raise kopf.PermanentError(f"Invalid {model.__name__}: {e}") from e
