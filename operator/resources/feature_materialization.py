"""Pure builder: a FeatureMaterialization -> the materialize CronJob."""

from __future__ import annotations

from typing import Any

from modelops.operator.api.v1alpha1.feature_materialization import (
    CRONJOB_SUFFIX,
    FeatureMaterialization,
)
from modelops.operator.resources.jobs import build_cronjob
from modelops.operator.settings import OperatorSettings

COMPONENT = "feature-materialization"
REPO_MOUNT = "/feature-repo"


def materialize_args(fm: FeatureMaterialization) -> list[str]:
    spec = fm.spec
    repo = spec.feature_store.path or REPO_MOUNT
    args = ["materialize", "--repo", repo]
    if spec.feature_views:
        args += ["--views", ",".join(spec.feature_views)]
    if spec.mode == "window" and spec.window is not None:
        args += [
            "--start",
            spec.window.start.isoformat().replace("+00:00", "Z"),
            "--end",
            spec.window.end.isoformat().replace("+00:00", "Z"),
        ]
    return args


def build_materialize_cronjob(
    fm: FeatureMaterialization, settings: OperatorSettings
) -> dict[str, Any]:
    store = fm.spec.feature_store
    volumes = []
    if store.config_map_ref is not None:
        # Mounted read-only; the job copies the repo to /tmp before Feast writes its registry.
        volumes.append(
            (
                {"name": "feature-repo", "configMap": {"name": store.config_map_ref.name}},
                {"name": "feature-repo", "mountPath": REPO_MOUNT, "readOnly": True},
            )
        )
    env = [{"name": "HOME", "value": "/tmp"}]
    owner = {"apiVersion": fm.api_version, "kind": fm.kind, "metadata": fm.metadata}
    cron = build_cronjob(
        owner,
        fm.spec,
        fm.spec.schedule,
        COMPONENT,
        CRONJOB_SUFFIX,
        materialize_args(fm),
        env,
        settings,
        extra_volumes=volumes,
    )
    if store.secret_ref is not None:
        container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        container["envFrom"] = [{"secretRef": {"name": store.secret_ref.name}}]
    return cron
