"""RuntimeSettings: environment names, defaults and derived values."""

from __future__ import annotations

import pytest

from modelops.serving_runtime.settings import RuntimeSettings

OPERATOR_ENV = (
    "MODEL_URI MODEL_NAME MODEL_VERSION MLFLOW_TRACKING_URI PORT WORKERS BATCHING_ENABLED "
    "MAX_BATCH_SIZE MAX_LATENCY_MS CACHE_ENABLED CACHE_TTL_SECONDS REDIS_URL "
    "PREDICTION_LOG_ENABLED PREDICTION_LOG_SAMPLE_RATE PREDICTION_LOG_MAX_LEN "
    "PREDICTION_LOG_STREAM PREDICTION_LOG_REDIS_URL HOST MAX_ROWS MAX_BODY_BYTES LOG_LEVEL"
).split()


def test_every_variable_the_operator_sets_is_a_field() -> None:
    fields = {name.upper() for name in RuntimeSettings.model_fields}
    assert set(OPERATOR_ENV) <= fields


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OPERATOR_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_URI", "models:/fraud@champion")
    s = RuntimeSettings()  # type: ignore[call-arg]
    assert (s.port, s.host, s.max_batch_size, s.max_latency_ms) == (8080, "0.0.0.0", 64, 2.0)
    assert s.max_rows == 10_000 and s.batching_enabled and not s.cache_enabled
    assert s.model_name == "fraud"
    assert s.prediction_log_stream == "modelops:predictions:default:fraud"


def test_operator_rendering_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "MODEL_URI": "models:/fraud/7",
        "MODEL_NAME": "fraud-detector",
        "MODEL_VERSION": "7",
        "WORKERS": "2",
        "BATCHING_ENABLED": "false",
        "MAX_LATENCY_MS": "0.5",
        "CACHE_ENABLED": "true",
        "REDIS_URL": "redis://redis:6379/0",
        "PREDICTION_LOG_REDIS_URL": "",
        "PREDICTION_LOG_STREAM": "modelops:predictions:risk:fraud",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = RuntimeSettings()  # type: ignore[call-arg]
    assert s.model_name == "fraud-detector" and s.workers == 2 and not s.batching_enabled
    assert s.max_latency_ms == 0.5 and s.cache_enabled
    assert s.prediction_log_redis_url is None
    assert s.log_redis_url == "redis://redis:6379/0"  # falls back to the cache's Redis
    assert s.prediction_log_stream == "modelops:predictions:risk:fraud"


def test_model_uri_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_URI", raising=False)
    with pytest.raises(ValueError, match="model_uri"):
        RuntimeSettings()  # type: ignore[call-arg]
