"""The materialize CronJob builder."""

from __future__ import annotations

from modelops.operator.api.v1alpha1.feature_materialization import FeatureMaterialization
from modelops.operator.resources.feature_materialization import (
    build_materialize_cronjob,
    materialize_args,
)
from modelops.operator.settings import OperatorSettings


def fm(**spec: object) -> FeatureMaterialization:
    return FeatureMaterialization.model_validate(
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "FeatureMaterialization",
            "metadata": {"name": "cf", "namespace": "n", "uid": "u"},
            "spec": {
                "featureStore": {"configMapRef": {"name": "repo"}, "secretRef": {"name": "feast"}},
                **spec,
            },
        }
    )


def test_incremental_run_of_the_mounted_repo(settings: OperatorSettings) -> None:
    cron = build_materialize_cronjob(fm(featureViews=["a", "b"]), settings)
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["materialize", "--repo", "/feature-repo", "--views", "a,b"]
    assert {"name": "feature-repo", "configMap": {"name": "repo"}} in pod["volumes"]
    assert {"name": "feature-repo", "mountPath": "/feature-repo", "readOnly": True} in c[
        "volumeMounts"
    ]
    assert c["envFrom"] == [{"secretRef": {"name": "feast"}}]
    assert cron["spec"]["schedule"] == "*/15 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["metadata"]["ownerReferences"][0]["kind"] == "FeatureMaterialization"


def test_window_backfill_and_image_path() -> None:
    f = FeatureMaterialization.model_validate(
        {
            "metadata": {"name": "cf", "namespace": "n"},
            "spec": {
                "featureStore": {"path": "/opt/repo"},
                "mode": "window",
                "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
            },
        }
    )
    assert materialize_args(f) == [
        "materialize",
        "--repo",
        "/opt/repo",
        "--start",
        "2026-01-01T00:00:00Z",
        "--end",
        "2026-02-01T00:00:00Z",
    ]
