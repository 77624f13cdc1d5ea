from modelops.operator.status.patch import merge_patch


def apply(target: dict, patch: dict) -> dict:
    """RFC 7386's own algorithm: what the apiserver does with a merge patch."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = apply(out.get(key) if isinstance(out.get(key), dict) else {}, value)
        else:
            out[key] = value
    return out


def test_a_key_the_new_status_drops_is_sent_as_null() -> None:
    failed = {"lastRun": {"jobName": "r-1", "error": "could not download s3://b/k"}}
    succeeded = {"lastRun": {"jobName": "r-2", "datasetDrift": True}}
    patch = merge_patch(failed, succeeded)
    assert patch == {"lastRun": {"jobName": "r-2", "datasetDrift": True, "error": None}}
    assert apply(failed, patch) == succeeded


def test_an_unchanged_status_needs_no_patch() -> None:
    status = {"observedGeneration": 3, "conditions": [{"type": "Ready"}], "model": {"v": "1"}}
    assert merge_patch(status, dict(status)) == {}


def test_only_what_changed_is_sent_and_lists_are_replaced_whole() -> None:
    old = {"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "False"}],
           "model": {"version": "1", "uri": "models:/m/1"}}  # fmt: skip
    new = {"observedGeneration": 4, "conditions": [{"type": "Ready", "status": "True"}],
           "model": {"version": "1", "uri": "models:/m/1"}}  # fmt: skip
    patch = merge_patch(old, new)
    assert patch == {"observedGeneration": 4, "conditions": new["conditions"]}
    assert apply(old, patch) == new


def test_a_whole_section_dropped_and_one_added() -> None:
    old = {"retraining": {"runName": "x"}, "history": [1]}
    new = {"history": [1], "rollout": {"phase": "Progressing"}}
    patch = merge_patch(old, new)
    assert patch == {"retraining": None, "rollout": {"phase": "Progressing"}}
    assert apply(old, patch) == new
