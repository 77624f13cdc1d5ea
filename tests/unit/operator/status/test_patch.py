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


def test_every_value_of_the_new_status_is_sent_even_unchanged() -> None:
    """The old status is as this pass read it; another pass may have written since: the new
    one goes whole, never as a diff against a possibly stale read."""
    old = {"observedGeneration": 3, "readyReplicas": 2, "model": {"version": "1", "uri": "u"}}
    new = {"observedGeneration": 4, "readyReplicas": 2, "model": {"version": "1", "uri": "u"}}
    assert merge_patch(old, new) == new
    server = {**old, "readyReplicas": 1}  # written by another pass after this one's read
    assert apply(server, merge_patch(old, new)) == new


def test_a_whole_section_dropped_and_one_added() -> None:
    old = {"retraining": {"runName": "x"}, "history": [1]}
    new = {"history": [1], "rollout": {"phase": "Progressing"}}
    patch = merge_patch(old, new)
    assert patch == {"retraining": None, "history": [1], "rollout": {"phase": "Progressing"}}
    assert apply(old, patch) == new
