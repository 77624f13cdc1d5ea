"""What the operator's watches select on: the labels its children carry, the namespaces it
leaves alone."""

from __future__ import annotations

from modelops.operator.resources.common import common_labels, managed_selector, outside


def matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality and set-based terms, as the apiserver reads them (enough for ours)."""
    head, _, rest = selector.partition(" in (")
    terms = head.split(",")
    sets = {}
    if rest:
        key = terms.pop()
        sets[key] = set(rest.rstrip(")").split(","))
    equal = dict(t.split("=", 1) for t in terms)
    return all(labels.get(k) == v for k, v in equal.items()) and all(
        labels.get(k) in vs for k, vs in sets.items()
    )


def test_a_childs_own_labels_match_the_selector_its_watch_uses() -> None:
    child = common_labels("fraud", "predictor", "7")
    assert matches(managed_selector("predictor"), child)
    assert not matches(managed_selector("drift-monitor"), child)
    runs = managed_selector("drift-monitor", "feature-materialization")
    assert runs.endswith("app.kubernetes.io/component in (drift-monitor,feature-materialization)")
    assert matches(runs, common_labels("fraud", "drift-monitor"))
    assert matches(runs, common_labels("customer", "feature-materialization"))
    assert not matches(runs, child)
    assert not matches(runs, {"app.kubernetes.io/component": "drift-monitor"})  # not ours


def test_excluded_namespaces_become_one_field_selector() -> None:
    assert outside([]) == ""
    assert (
        outside(["kube-system", "ops"]) == "metadata.namespace!=kube-system,metadata.namespace!=ops"
    )
