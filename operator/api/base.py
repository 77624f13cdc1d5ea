"""Building blocks shared by every modelops API type: wire naming, conditions, CRD metadata."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "modelops.dev"
VERSION = "v1alpha1"
# A literal, not built from the two above: the kinds' apiVersion fields are typed with it.
API_VERSION: Literal["modelops.dev/v1alpha1"] = "modelops.dev/v1alpha1"
CATEGORY = "modelops"


class KubeModel(BaseModel):
    """snake_case in Python, camelCase on the wire; field docstrings become `kubectl explain`."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        # Unknown fields are pruned by the apiserver's structural schema; the model ignores them
        # rather than forbidding them (`additionalProperties: false` is not allowed in CRDs).
        extra="ignore",
    )

    def wire(self) -> dict[str, Any]:
        """The object as the apiserver stores it: camelCase, no nulls."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Condition(KubeModel):
    """One aspect of the object's state, as in metav1.Condition."""

    type: str
    """The aspect this condition describes, in CamelCase (Ready, Available, ...)."""
    status: Literal["True", "False", "Unknown"]
    """Whether the aspect holds: True, False or Unknown."""
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    """A CamelCase machine-readable reason for the last transition."""
    message: str = Field(default="", max_length=32768)
    """A human-readable explanation of the last transition."""
    last_transition_time: datetime
    """When the status last changed."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this condition was computed from."""


class ObjectRef(KubeModel):
    """A reference to an object in the same namespace by name."""

    name: str = Field(min_length=1, max_length=253)
    """The object's name."""


class SecretKeyRef(KubeModel):
    """A key in a Secret in the same namespace."""

    name: str = Field(min_length=1, max_length=253)
    """The Secret's name."""
    key: str = Field(min_length=1, max_length=253)
    """The key inside the Secret."""


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class CrdInfo:
    """What a CRD says beyond its schema: names, scope, columns, subresources."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    columns: tuple[PrinterColumn, ...]
    scale: dict[str, str] | None = None
    categories: tuple[str, ...] = (CATEGORY,)
    max_name_length: int = 63
    """The longest metadata.name whose children's names are all valid."""
    name_rule: str = ""
    """Why names are limited, for the admission message."""
    dns_label: bool = False
    """Whether metadata.name must be a DNS-1035 label (it names a Service)."""

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"
