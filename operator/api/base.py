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


# The message a string field's pattern is refused with; crdgen turns the two into a CEL rule.
PATTERN_MESSAGE = "x-modelops-pattern-message"


def cel_matches(pattern: str) -> str:
    """A CEL rule that the value matches `pattern` (RE2), as a CEL string literal spells it."""
    assert "'" not in pattern, pattern
    return "self.matches('" + pattern.replace("\\", "\\\\") + "')"


def matching(pattern: str, message: str, **field: Any) -> Any:
    """A string Field that must match `pattern`. Pydantic checks the pattern; the CRD states
    it as a CEL rule refused with `message`, which names what is expected (a bare `pattern`
    makes the apiserver answer with the regex itself). Extra CEL rules go in `rules`."""
    rules = field.pop("rules", [])
    extra: dict[str, Any] = {PATTERN_MESSAGE: message}
    if rules:
        extra["x-kubernetes-validations"] = rules
    return Field(pattern=pattern, json_schema_extra=extra, **field)


def identifier(**field: Any) -> Any:
    """A name as Python and shells take it (an environment variable, a join key)."""
    return matching(
        r"^[A-Za-z_][A-Za-z0-9_]*$",
        "must be an identifier: letters, digits and _, not starting with a digit",
        **field,
    )


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


def condition_columns(*before: PrinterColumn) -> tuple[PrinterColumn, ...]:
    """Ready and its reason first on every kind, as `kubectl get` shows them (its message with
    -o wide): what a team reads first is whether it works and, if not, why."""
    ready = '.status.conditions[?(@.type=="Ready")]'
    return (
        PrinterColumn("Ready", f"{ready}.status"),
        PrinterColumn("Reason", f"{ready}.reason"),
        *before,
    )


def message_column() -> PrinterColumn:
    return PrinterColumn("Message", '.status.conditions[?(@.type=="Ready")].message', priority=1)


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
