"""The contract between the operator's builders and the runtime image they configure.

The operator renders a Deployment (`modelops-runtime serve`, configured by environment
variables) and CronJobs (`modelops-runtime drift|materialize ARGS`). Nothing but these tests
ties the two sides together, so they check that:

(a) every variable the builders render is a RuntimeSettings field (by the settings' own env
    naming) whose type accepts the rendered value, or a variable listed in EXTERNAL_ENV with
    the reason it is there; a job's variables are also actually read by the job;
(b) the Deployment's probes are GET routes of the runtime app and its port is the runtime's;
(c) the CronJobs' args are a subcommand the runtime CLI accepts, with only that subcommand's
    options.

The builders run on specs that switch every optional feature on (cache through a URL and a
Secret, the prediction log, online features, autoscaling, credentials, user variables), so
every branch that adds a variable renders.
"""

from __future__ import annotations

import argparse
import ast
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, ValidationError
from starlette.routing import Match

from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor
from modelops.operator.api.v1alpha1.feature_materialization import (
    FeatureMaterialization,
    FeatureStoreRef,
)
from modelops.operator.api.v1alpha1.model_deployment import (
    ModelDeployment,
    ModelDeploymentStatus,
    ResolvedModel,
)
from modelops.operator.resources.drift_monitor import build_drift_cronjob, drift_target
from modelops.operator.resources.feature_materialization import build_materialize_cronjob
from modelops.operator.resources.jobs import BAD_INPUT_EXIT_CODES
from modelops.operator.resources.model_deployment import (
    RolloutPods,
    build_deployment,
    build_service,
    takes_rollouts,
)
from modelops.operator.resources.validation import build_validation_job
from modelops.operator.settings import OperatorSettings
from modelops.serving_runtime import cli
from modelops.serving_runtime.jobs import common as jobs_common
from modelops.serving_runtime.jobs import drift, materialize, validate
from modelops.serving_runtime.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parents[2]

# Variables that are not RuntimeSettings fields, each with who reads it. A rendered variable
# that is neither a field nor listed here fails (a typo, or a setting the runtime never reads),
# and so does a variable the runtime's code reads directly that is neither.
EXTERNAL_ENV: dict[str, str] = {
    # Rendered by the operator, read by libraries rather than by the runtime's code:
    "HOME": "the jobs' root filesystem is read-only; MLflow, Feast and their dependencies write "
    "caches under $HOME, so the CronJobs point it at the /tmp emptyDir",
    # Read by the runtime outside RuntimeSettings; the operator renders none of them:
    "PROMETHEUS_MULTIPROC_DIR": "cli.py/metrics.py: prometheus-client's multiprocess mode, "
    "which the CLI sets up itself when WORKERS > 1",
    "PROMETHEUS_MULTIPROCESS_DIR": "features.py: the legacy name, undone after Feast's import",
    "ON_DRIFT_WEBHOOK_URL": "jobs/actions.py: the onDrift webhook URL, rendered from the "
    "DriftMonitor's webhookSecretRef (a Secret reference, so never a command-line flag)",
    "TQDM_DISABLE": "jobs/common.py: turns Feast's tqdm progress bars off in the jobs (their "
    "carriage-return redraws make one unreadable log line); set by the job itself",
    "TERMINATION_MESSAGE_PATH": "jobs/common.py: where a job writes its result; the CronJob "
    "sets terminationMessagePath to the default instead",
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "loader.py: MLflow's own gate, opened only with "
    "ALLOW_PICKLE",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "model.py: MLflow's own, defaulted before import",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "model.py: MLflow's own, defaulted before import",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "model.py: MLflow's own, defaulted before import",
    # Not listable: Secrets passed whole with envFrom (spec.model.credentialsSecretRef, e.g.
    # MLFLOW_TRACKING_TOKEN and AWS_*; featureStore.secretRef, e.g. REDIS_CONNECTION_STRING
    # and FEAST_DATA_PATH) have user-chosen keys, read by MLflow, boto3 and Feast.
    # MLFLOW_TRACKING_URI is a RuntimeSettings field (MLflow reads it too) and the drift job's
    # --tracking-uri default, so it needs no entry.
}

# --- inputs --------------------------------------------------------------------------------

SETTINGS = OperatorSettings(
    mlflow_tracking_uri="http://mlflow.test:5000",
    runtime_image="registry.test/runtime:1",
    redis_url="redis://operator-default.test:6379/0",
)
RESOLVED = ResolvedModel(
    uri="models:/fraud@champion",
    resolved_uri="models:/fraud/7",
    name="fraud",
    version="7",
    run_id="abc123",
)
SECRET_VALUE = "redis://from-a-secret.test:6379/0"
"""What the kubelet would put in a variable sourced from a Secret, when a job must read it."""

MODEL = {"uri": "models:/fraud@champion"}
FEATURES = {
    "materializationRef": {"name": "customer-features"},
    "entityKey": "customer_id",
    "features": ["customer_stats:avg_amount_30d", "customer_stats:txn_count_7d"],
}
STORE_CONFIGMAP = FeatureStoreRef.model_validate(
    {"configMapRef": {"name": "feature-repo"}, "secretRef": {"name": "feast-online"}}
)
STORE_PATH = FeatureStoreRef.model_validate({"path": "/opt/feature-repo"})

MD_SPECS: dict[str, tuple[dict[str, Any], FeatureStoreRef | None]] = {
    "everything-redis-from-secret": (
        {
            "model": {
                **MODEL,
                "trackingUri": "https://mlflow.example.com",
                "credentialsSecretRef": {"name": "mlflow-creds"},
            },
            "autoscaling": {
                "minReplicas": 2,
                "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 70,
                "targetMemoryUtilizationPercentage": 80,
            },
            "runtime": {"workers": 4, "env": [{"name": "LOG_LEVEL", "value": "debug"}]},
            "batching": {"enabled": False, "maxBatchSize": 512, "maxLatencyMs": 0.5},
            "cache": {"redisSecretRef": {"name": "redis", "key": "url"}, "ttl": "1m"},
            "predictionLog": {
                "enabled": True,
                "sampleRate": 0.25,
                "maxLen": 5000,
                "redisUrl": "redis://log.test:6379/1",
            },
            "features": FEATURES,
        },
        STORE_CONFIGMAP,
    ),
    "cache-url-log-falls-back-to-it": (
        {
            "model": MODEL,
            "replicas": 3,
            "cache": {"redisUrl": "redis://cache.test:6379/0", "ttl": "30s"},
            "predictionLog": {"enabled": True},
            "features": FEATURES,
        },
        STORE_PATH,
    ),
    "cache-secret-log-without-redis": (
        {
            "model": MODEL,
            "cache": {"redisSecretRef": {"name": "redis", "key": "url"}},
            "predictionLog": {"enabled": True},
        },
        None,
    ),
    "log-on-operator-default-redis": ({"model": MODEL, "predictionLog": {"enabled": True}}, None),
    "defaults": ({"model": MODEL}, None),
    "suspended-raw-uri": ({"model": {"uri": "s3://bucket/model"}, "suspend": True}, None),
    "canary-with-a-candidate": (
        {
            "model": MODEL,
            "rollout": {
                "strategy": "Canary",
                "candidate": "models:/fraud@challenger",
                "steps": [{"weight": 10, "duration": "1m"}],
            },
        },
        None,
    ),
}
CANDIDATE = ResolvedModel(
    uri="models:/fraud@challenger", resolved_uri="models:/fraud/8", name="fraud", version="8"
)


def make_md(spec: dict[str, Any], name: str = "fraud") -> ModelDeployment:
    md = ModelDeployment.model_validate(
        {"metadata": {"name": name, "namespace": "risk", "uid": "u-md"}, "spec": spec}
    )
    md.status = ModelDeploymentStatus(model=RESOLVED)
    return md


def deployment(case: str) -> dict[str, Any]:
    spec, store = MD_SPECS[case]
    md = make_md(spec)
    rollout = None
    if takes_rollouts(md):
        traffic = {"revision": 1, "mode": "canary", "weight": 10}
        rollout = RolloutPods("cHVibGljLWtleQ==", CANDIDATE, traffic)
    return build_deployment(md, RESOLVED, SETTINGS, store, rollout)


DM_SPECS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "reference-uri-and-model-window-methods-report": {
        "reference": {"uri": "s3://bucket/train.parquet"},
        "current": {"window": "30m", "minRows": 10},
        "methods": {"amount": "psi", "country": "chisquare"},
        "threshold": {"driftShare": 0.5},
        "report": {"uri": "s3://bucket/reports"},
        "schedule": "*/5 * * * *",
        "timeZone": "Europe/Paris",
        "startingDeadline": "2m",
    },
    "current-uri-and-columns": {
        "reference": {"uri": "/data/ref.csv"},
        "current": {"uri": "runs:/abc/current.parquet"},
        "columns": ["amount", "country"],
    },
}


def drift_cronjobs() -> dict[str, dict[str, Any]]:
    """Every drift spec against every ModelDeployment (each Redis precedence branch)."""
    crons = {}
    for md_case, (md_spec, _) in MD_SPECS.items():
        for dm_case, dm_spec in DM_SPECS.items():
            dm = DriftMonitor.model_validate(
                {
                    "metadata": {"name": "fraud-drift", "namespace": "risk", "uid": "u-dm"},
                    "spec": {"modelDeploymentRef": {"name": "fraud"}, **dm_spec},
                }
            )
            target = drift_target(make_md(md_spec), SETTINGS)
            crons[f"drift-{dm_case}-on-{md_case}"] = build_drift_cronjob(dm, target, SETTINGS)
    return crons


FM_SPECS: dict[str, dict[str, Any]] = {
    "configmap-secret-views": {
        "featureStore": {"configMapRef": {"name": "repo"}, "secretRef": {"name": "feast"}},
        "featureViews": ["customer_stats", "merchant_stats"],
    },
    "image-path-window": {
        "featureStore": {"path": "/opt/repo"},
        "mode": "window",
        "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00+02:00"},
    },
}


def materialize_cronjobs() -> dict[str, dict[str, Any]]:
    crons = {}
    for case, spec in FM_SPECS.items():
        fm = FeatureMaterialization.model_validate(
            {"metadata": {"name": "cf", "namespace": "risk", "uid": "u-fm"}, "spec": spec}
        )
        crons[f"materialize-{case}"] = build_materialize_cronjob(fm, SETTINGS)
    return crons


CRONJOBS = {**drift_cronjobs(), **materialize_cronjobs()}


def deployment_container(dep: dict[str, Any]) -> dict[str, Any]:
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    return container


def cron_container(cron: dict[str, Any]) -> dict[str, Any]:
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return container


# --- (a) environment -----------------------------------------------------------------------


def settings_env_names() -> dict[str, str]:
    """Environment name -> RuntimeSettings field, the way pydantic-settings maps them."""
    config = RuntimeSettings.model_config
    prefix = config.get("env_prefix", "")
    case_sensitive = config.get("case_sensitive", False)
    names: dict[str, str] = {}
    for field, info in RuntimeSettings.model_fields.items():
        alias = info.validation_alias or info.alias
        if isinstance(alias, str):
            envs = [alias]  # an alias replaces the prefixed name
        elif isinstance(alias, AliasChoices):
            envs = [c for c in alias.choices if isinstance(c, str)]
        else:
            envs = [prefix + field]
        for env in envs:
            names[env if case_sensitive else env.upper()] = field
    return names


FIELD_ENV = settings_env_names()
CASE_SENSITIVE = RuntimeSettings.model_config.get("case_sensitive", False)


def canonical(name: str) -> str:
    return name if CASE_SENSITIVE else name.upper()


def check_names(env: list[dict[str, Any]]) -> None:
    unknown = [
        e["name"]
        for e in env
        if canonical(e["name"]) not in FIELD_ENV and e["name"] not in EXTERNAL_ENV
    ]
    assert not unknown, (
        f"rendered variables the runtime does not read: {unknown}; make each a RuntimeSettings "
        "field, or list it in EXTERNAL_ENV with the reason"
    )
    for e in env:
        assert ("value" in e) != ("valueFrom" in e), f"{e['name']}: one of value or valueFrom"
    names = [canonical(e["name"]) for e in env]
    assert len(names) == len(set(names)), f"a variable is rendered twice: {names}"


def validate_with_runtime_settings(
    env: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> RuntimeSettings:
    """RuntimeSettings read from exactly the rendered literal values, as the pod would."""
    for name in list(os.environ):
        if canonical(name) in FIELD_ENV:
            monkeypatch.delenv(name)
    literal = {e["name"]: e["value"] for e in env if "value" in e}
    for name, value in literal.items():
        assert isinstance(value, str), f"{name}: env values are strings, got {value!r}"
        monkeypatch.setenv(name, value)
    # A job's container carries no MODEL_URI; the field is required for a server only.
    init = {} if "MODEL_URI" in {canonical(n) for n in literal} else {"model_uri": "models:/m/1"}
    try:
        return RuntimeSettings(**init)
    except ValidationError as e:
        shown = {n: v for n, v in literal.items() if canonical(n) in FIELD_ENV}
        pytest.fail(f"the runtime refuses the rendered values {shown}:\n{e}", pytrace=False)


@pytest.mark.parametrize("case", list(MD_SPECS))
def test_deployment_env_is_runtime_settings(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dep = deployment(case)
    env = deployment_container(dep)["env"]
    check_names(env)
    settings = validate_with_runtime_settings(env, monkeypatch)
    # Read from the environment under the names the operator gave them, none ignored.
    literal_fields = {
        FIELD_ENV[canonical(e["name"])]
        for e in env
        if "value" in e and canonical(e["name"]) in FIELD_ENV
    }
    assert literal_fields <= settings.model_fields_set, literal_fields - settings.model_fields_set


def test_every_env_branch_renders() -> None:
    """The specs above must keep reaching every variable the Deployment builder can add."""
    rendered = {
        e["name"] for case in MD_SPECS for e in deployment_container(deployment(case))["env"]
    }
    redis_from_secret = {
        "valueFrom" in e
        for case in MD_SPECS
        for e in deployment_container(deployment(case))["env"]
        if e["name"] == "REDIS_URL"
    }
    assert {
        "MODEL_URI",
        "CACHE_ENABLED",
        "CACHE_TTL_SECONDS",
        "REDIS_URL",
        "PREDICTION_LOG_ENABLED",
        "PREDICTION_LOG_REDIS_URL",
        "FEATURE_REPO",
        "FEATURE_ENTITY_KEY",
        "FEATURE_REFS",
        "LOG_LEVEL",
    } <= rendered
    assert redis_from_secret == {True, False}
    cron_env = {e["name"] for c in CRONJOBS.values() for e in cron_container(c)["env"]}
    assert {"PREDICTION_LOG_REDIS_URL", "PREDICTION_LOG_STREAM", "HOME"} <= cron_env
    drift_redis = [
        e
        for c in CRONJOBS.values()
        for e in cron_container(c)["env"]
        if e["name"] == "PREDICTION_LOG_REDIS_URL"
    ]
    assert any("valueFrom" in e for e in drift_redis) and any("value" in e for e in drift_redis)


@pytest.mark.parametrize("case", sorted(CRONJOBS))
def test_cronjob_env_is_runtime_settings_and_read_by_the_job(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    container = cron_container(CRONJOBS[case])
    env = container["env"]
    check_names(env)
    validate_with_runtime_settings(env, monkeypatch)
    # The jobs do not use RuntimeSettings: a variable is only worth rendering if the job reads
    # it (as an option's default). Secret-sourced ones get what the kubelet would put there.
    values = {e["name"]: e.get("value", SECRET_VALUE) for e in env}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    parsed = run_cli(container["args"], monkeypatch, capsys)
    unread = [
        n for n, v in values.items() if n not in EXTERNAL_ENV and v not in vars(parsed).values()
    ]
    assert not unread, f"the {container['args'][0]} job ignores the rendered {unread}"


ENV_READERS = {
    "os.environ.get",
    "os.environ.setdefault",
    "os.environ.pop",
    "os.getenv",
    "env_default",
}


def env_reads_in_runtime_source() -> dict[str, str]:
    """Variable name -> where the runtime's code reads it by a literal name: os.environ[...],
    os.environ.get/setdefault/pop, os.getenv, and the jobs' env_default."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "serving_runtime").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            key: ast.expr | None = None
            if isinstance(node, ast.Call) and node.args:
                if ast.unparse(node.func) in ENV_READERS:
                    key = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                found.setdefault(key.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_runtime_reads_no_unlisted_variable() -> None:
    reads = env_reads_in_runtime_source()
    assert "PROMETHEUS_MULTIPROC_DIR" in reads and "PREDICTION_LOG_STREAM" in reads  # scan works
    unlisted = {
        n: where
        for n, where in reads.items()
        if canonical(n) not in FIELD_ENV and n not in EXTERNAL_ENV
    }
    assert not unlisted, f"read outside RuntimeSettings and not in EXTERNAL_ENV: {unlisted}"
    both = [n for n in EXTERNAL_ENV if canonical(n) in FIELD_ENV]
    assert not both, f"RuntimeSettings fields need no EXTERNAL_ENV entry: {both}"


def _log_redis_source(env: list[dict[str, Any]]) -> Any:
    by_name = {e["name"]: e.get("value", e.get("valueFrom")) for e in env}
    # RuntimeSettings.log_redis_url: the log's own Redis, else the cache's (REDIS_URL).
    return by_name.get("PREDICTION_LOG_REDIS_URL") or by_name.get("REDIS_URL")


LOG_CASES = [
    case for case, (spec, _) in MD_SPECS.items() if spec.get("predictionLog", {}).get("enabled")
]


@pytest.mark.parametrize("case", LOG_CASES)
def test_drift_job_reads_the_log_the_runtime_writes(case: str) -> None:
    spec, store = MD_SPECS[case]
    md = make_md(spec)
    served = deployment_container(build_deployment(md, RESOLVED, SETTINGS, store))["env"]
    dm = DriftMonitor.model_validate(
        {
            "metadata": {"name": "d", "namespace": "risk", "uid": "u"},
            "spec": {"modelDeploymentRef": {"name": "fraud"}},
        }
    )
    job = cron_container(build_drift_cronjob(dm, drift_target(md, SETTINGS), SETTINGS))["env"]
    served_by, job_by = ({e["name"]: e for e in env} for env in (served, job))
    assert served_by["PREDICTION_LOG_STREAM"] == job_by["PREDICTION_LOG_STREAM"]
    assert _log_redis_source(served) == _log_redis_source(job)


# --- (b) probes and port -------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> Any:
    from modelops.serving_runtime.app import create_app

    # Nothing loads at construction (the lifespan does that), so any model URI will do.
    return create_app(RuntimeSettings(model_uri="models:/contract/1", model_name="contract"))


def is_get_route(app: Any, path: str) -> bool:
    """Whether the app routes GET `path` to a handler, as it would route the kubelet's probe
    (FastAPI's included routers answer Starlette's matches() like plain routes)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


@pytest.mark.parametrize("case", sorted(MD_SPECS))
def test_probes_and_port_are_the_runtimes(case: str, app: Any) -> None:
    dep = deployment(case)
    container = deployment_container(dep)
    runtime_port = RuntimeSettings.model_fields["port"].default
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert set(ports.values()) == {runtime_port}
    probes = {
        k: container[k]
        for k in ("livenessProbe", "readinessProbe", "startupProbe")
        if k in container
    }
    assert {"livenessProbe", "readinessProbe"} <= set(probes)
    for kind, probe in probes.items():
        path, port = probe["httpGet"]["path"], probe["httpGet"]["port"]
        assert is_get_route(app, path), f"{kind} {path} is not a GET route of the runtime"
        assert ports.get(port, port) == runtime_port, f"{kind} port {port}"
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert is_get_route(app, annotations["prometheus.io/path"])
    assert int(annotations["prometheus.io/port"]) == runtime_port
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env.get("PORT", runtime_port)) == runtime_port
    (service_port,) = build_service(make_md(MD_SPECS[case][0]), RESOLVED)["spec"]["ports"]
    assert service_port["targetPort"] in ports


def test_termination_grace_covers_the_pre_stop_delay_and_the_runtimes_drain() -> None:
    """SIGKILL must not cut the runtime's drain short: grace >= preStop + graceful shutdown."""
    dep = deployment("everything-redis-from-secret")
    pod = dep["spec"]["template"]["spec"]
    pre_stop = deployment_container(dep)["lifecycle"]["preStop"]["sleep"]
    drain = RuntimeSettings.model_fields["graceful_shutdown_seconds"].default
    assert pod["terminationGracePeriodSeconds"] >= pre_stop["seconds"] + drain


def test_the_jobs_bad_input_exit_codes_are_the_ones_their_jobs_fail_on_at_once() -> None:
    """The runtime's jobs exit EXIT_BAD_INPUT on bad input and argparse's 2 on a usage error;
    the operator's podFailurePolicy must name both, or such a run is retried for nothing."""
    assert jobs_common.EXIT_BAD_INPUT != 1  # 1 stays "a retry may mend it"
    assert set(BAD_INPUT_EXIT_CODES) == {jobs_common.EXIT_BAD_INPUT, 2}
    with pytest.raises(SystemExit) as usage:
        cli.main(["drift", "--no-such-flag"])
    assert usage.value.code in BAD_INPUT_EXIT_CODES


def test_route_check_can_tell() -> None:
    from modelops.serving_runtime.app import create_app

    app = create_app(RuntimeSettings(model_uri="models:/contract/1"))
    assert is_get_route(app, "/v2/models/contract/ready")  # path parameters match
    assert not is_get_route(app, "/healthz") and not is_get_route(app, "/predict")  # POST only


# --- (c) job command lines -----------------------------------------------------------------

JOB_MODULES = {"drift": drift, "materialize": materialize, "validate": validate}


def run_cli(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> argparse.Namespace:
    """Run `modelops-runtime ARGS` through the real CLI and parsers, up to the job's work."""
    seen: dict[str, Any] = {}

    def fake_run(module: str) -> Any:
        def run(parsed: argparse.Namespace) -> dict[str, Any]:
            seen["module"], seen["args"] = module, parsed
            return {}

        return run

    for name, module in JOB_MODULES.items():
        monkeypatch.setattr(module, "run", fake_run(name))
    monkeypatch.setattr(jobs_common, "emit_result", lambda result, started: None)
    monkeypatch.setattr(cli, "serve", lambda argv: seen.setdefault("module", "serve") and 0)
    try:
        code = cli.main(list(args))
    except SystemExit as e:
        err = capsys.readouterr().err
        pytest.fail(f"modelops-runtime refuses {args} (exit {e.code}): {err}", pytrace=False)
    assert code == 0 and seen.get("module") == args[0], (args, seen)
    return seen.get("args", argparse.Namespace())


def job_options(subcommand: str) -> set[str]:
    parser = argparse.ArgumentParser()
    JOB_MODULES[subcommand].add_arguments(parser)
    return set(parser._option_string_actions)  # every --flag the parser defines


@pytest.mark.parametrize("case", sorted(CRONJOBS))
def test_cronjob_args_are_a_runtime_command(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = cron_container(CRONJOBS[case])["args"]
    subcommand = args[0]
    assert subcommand in JOB_MODULES, f"{subcommand!r} is not a job of the runtime CLI"
    # Exact names: argparse would also take an abbreviation (--min-row for --min-rows).
    flags = [a.split("=", 1)[0] for a in args[1:] if a.startswith("--")]
    unknown = sorted(set(flags) - job_options(subcommand))
    assert not unknown, f"`modelops-runtime {subcommand}` has no option {unknown}"
    run_cli(args, monkeypatch, capsys)  # the real parser: types, exclusive groups


def test_validation_job_args_are_a_runtime_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "model": {**MODEL, "allowPickle": True, "credentialsSecretRef": {"name": "creds"}},
        "rollout": {
            "strategy": "Canary",
            "candidate": "models:/fraud@challenger",
            "steps": [{"weight": 10, "duration": "1m"}],
            "validation": {
                "data": "s3://bucket/holdout.parquet",
                "target": "label",
                "metrics": [{"name": "accuracy", "min": 0.85, "maxRegression": 0.01}],
            },
        },
    }
    job = build_validation_job(make_md(spec), CANDIDATE, RESOLVED, SETTINGS)
    assert job is not None
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    flags = [a for a in args[1:] if a.startswith("--")]
    assert not sorted(set(flags) - job_options("validate"))
    parsed = run_cli(args, monkeypatch, capsys)
    assert parsed.candidate == "models:/fraud/8" and parsed.stable == "models:/fraud/7"
    assert validate.parse_gates(parsed.metrics)[0] == validate.Gate("accuracy", 0.85, None, 0.01)
    assert container["envFrom"] == [{"secretRef": {"name": "creds"}}]


@pytest.mark.parametrize("case", sorted(MD_SPECS))
def test_deployment_args_are_a_runtime_command(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = deployment_container(deployment(case))["args"]
    assert args == ["serve"]
    run_cli(args, monkeypatch, capsys)


def test_cli_check_can_tell(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(pytest.fail.Exception):
        run_cli(["predict"], monkeypatch, capsys)
    with pytest.raises(pytest.fail.Exception):
        run_cli(["drift", "--window", "1h", "--current", "s3://b/c"], monkeypatch, capsys)
    assert "--min-row" not in job_options("drift") and "--min-rows" in job_options("drift")
