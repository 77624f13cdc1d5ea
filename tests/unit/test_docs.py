"""The docs a user reads stay true to the code: every condition type and reason the operator
sets has its row in docs/troubleshooting.md, and the docs list the stalled reasons it uses."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import modelops.operator.status as status

ROOT = Path(__file__).resolve().parents[2]
CAMEL = re.compile(r"^[A-Z][a-z]+([A-Z][a-z]*)*$")


def operator_reasons() -> set[str]:
    """CamelCase string constants of the status modules: the condition types and reasons."""
    found: set[str] = set()
    for module in pkgutil.iter_modules(status.__path__):
        mod = importlib.import_module(f"{status.__name__}.{module.name}")
        for name, value in vars(mod).items():
            if not name.isupper():
                continue
            values = value.values() if isinstance(value, dict) else [value]
            found |= {v for v in values if isinstance(v, str) and CAMEL.match(v)}
    return found


def test_every_condition_type_and_reason_is_in_the_troubleshooting_guide() -> None:
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    reasons = operator_reasons()
    assert {"ModelNotFound", "RunFailed", "PolicyViolation", "RolloutRolledBack"} <= reasons
    missing = sorted(r for r in reasons if f"`{r}`" not in text)
    assert not missing, f"docs/troubleshooting.md lacks {missing}"


def listed_after(text: str, start: str, end: str) -> set[str]:
    """The backticked reasons from `start` to the next `end`."""
    at = text.index(start)
    return set(re.findall(r"`([A-Z][A-Za-z]+)`", text[at + len(start) : text.index(end, at)]))


def test_the_stalled_reasons_the_docs_list_are_the_operators() -> None:
    from modelops.operator.status.conditions import STALLED_REASONS

    guide = (ROOT / "docs" / "troubleshooting.md").read_text()
    gitops = (ROOT / "gitops" / "argocd" / "README.md").read_text()
    assert listed_after(guide, "`Stalled` (True when it cannot:", ")") == STALLED_REASONS
    assert (
        listed_after(gitops, "- `Stalled=True` when it cannot:", "Flux reports") == STALLED_REASONS
    )
