"""Kubernetes Events about our objects, from bodies as the API returns them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf


def _body(body: Mapping[str, Any]) -> kopf.Body:
    # kopf reads only apiVersion, kind and metadata off the object: any mapping will do.
    return cast(kopf.Body, body)


def info(body: Mapping[str, Any], reason: str, message: str) -> None:
    kopf.info(_body(body), reason=reason, message=message)


def warn(body: Mapping[str, Any], reason: str, message: str) -> None:
    kopf.warn(_body(body), reason=reason, message=message)
