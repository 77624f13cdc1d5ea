"""RuntimeSettings: the serving runtime's whole configuration, read from the environment."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:(?P<sep>[/@])(?P<ref>.+))?$")
"""models:/NAME, models:/NAME/VERSION (or /STAGE), models:/NAME@ALIAS."""


def model_name_from_uri(uri: str) -> str | None:
    """The registered model's name in a models:/ URI, else None."""
    match = REGISTRY_URI.match(uri)
    return match.group("name") if match else None


class RuntimeSettings(BaseSettings):
    """One model per process. The operator sets these variables on the container (no prefix:
    the names are the contract, see ../shared/DESIGN.md "Serving runtime contract")."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    model_uri: str = Field(min_length=1)
    """models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN/PATH, s3://..., or a local path."""
    model_name: str = ""
    """The name in responses, metrics and the v2 protocol; defaults to the registry name."""
    model_version: str = ""
    """The version in responses and cache keys; resolved from the registry when empty."""
    mlflow_tracking_uri: str | None = None
    """The MLflow tracking/registry server (models:/ and runs:/ URIs need it)."""

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    """uvicorn worker processes; each loads its own copy of the model."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = (
        "INFO"
    )
    graceful_shutdown_seconds: float = Field(default=25.0, ge=0)
    """How long SIGTERM waits for in-flight requests (pods get 30 s before SIGKILL)."""

    batching_enabled: bool = True
    max_batch_size: int = Field(default=64, ge=1, le=100_000)
    """The most rows in one merged model call (a larger request runs alone)."""
    max_latency_ms: float = Field(default=2.0, ge=0, le=10_000)
    """The longest a request waits for others to join its batch when requests queue up."""

    max_rows: int = Field(default=10_000, ge=1)
    """Rows allowed in one request; more gets a 413."""
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Request body size allowed; more gets a 413."""

    cache_enabled: bool = False
    cache_ttl_seconds: int = Field(default=300, ge=1)
    redis_url: str | None = None
    """Redis for the response cache (and the prediction log when it names none)."""
    redis_timeout_ms: float = Field(default=50.0, gt=0)
    """Socket timeout on the request path: a slow Redis must not slow predictions down."""

    prediction_log_enabled: bool = False
    prediction_log_sample_rate: float = Field(default=1.0, ge=0, le=1)
    prediction_log_max_len: int = Field(default=100_000, ge=1)
    prediction_log_stream: str = ""
    """Defaults to modelops:predictions:default:MODEL_NAME."""
    prediction_log_redis_url: str | None = None

    load_retry_initial_seconds: float = Field(default=1.0, gt=0)
    load_retry_max_seconds: float = Field(default=60.0, gt=0)

    @field_validator("mlflow_tracking_uri", "redis_url", "prediction_log_redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # The operator may render an unset URL as an empty variable.
        return None if value == "" else value

    @model_validator(mode="after")
    def _defaults_from_uri(self) -> RuntimeSettings:
        if not self.model_name:
            self.model_name = model_name_from_uri(self.model_uri) or "model"
        if not self.prediction_log_stream:
            self.prediction_log_stream = f"modelops:predictions:default:{self.model_name}"
        return self

    @property
    def log_redis_url(self) -> str | None:
        """The prediction log's Redis: its own, else the cache's."""
        return self.prediction_log_redis_url or self.redis_url
