"""The runtime during a rollout, in-process with stand-in models: the split, the version
header, shadow agreement and the signed push."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from modelops.serving_runtime.app import create_app
from modelops.serving_runtime.model import LoadedModel, ModelOutput
from modelops.serving_runtime.settings import RuntimeSettings
from modelops.serving_runtime.traffic import signed_message
from tests.integration.runtime_helpers import serve_in_process

OPERATOR_KEY = Ed25519PrivateKey.generate()
PUBLIC = base64.b64encode(
    OPERATOR_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()
TARGET = "team-a/fraud"


def stand_in(settings: RuntimeSettings) -> LoadedModel:
    """Version 1 answers 0 for every row; version 2 answers 0 when the row's first value is
    even and 1 when it is odd: they agree on half of 0..9."""
    candidate = settings.model_version == "2"

    def call(x: Any, want_proba: bool) -> ModelOutput:
        first = np.asarray(x, dtype=float)[:, 0].astype(int)
        return ModelOutput(first % 2 if candidate else np.zeros(len(first), dtype=int))

    return LoadedModel(
        name="fraud", version=settings.model_version, uri=settings.model_uri, flavor="sklearn",
        schema=None, call=call, classes=[0, 1],
    )  # fmt: skip


def settings(tmp_path: Path, **kw: Any) -> RuntimeSettings:
    values: dict[str, Any] = {
        "model_uri": "models:/fraud/1",
        "model_version": "1",
        "candidate_model_uri": "models:/fraud/2",
        "candidate_model_version": "2",
        "rollout_public_key": PUBLIC,
        "rollout_target": TARGET,
        "traffic_push_file": str(tmp_path / "pushed.json"),
        "batching_enabled": False,
    }
    return RuntimeSettings(**(values | kw))


def signed(
    config: dict[str, Any], key: Ed25519PrivateKey = OPERATOR_KEY, target: str = TARGET
) -> dict[str, Any]:
    signature = key.sign(signed_message(config, target))
    return {"config": config, "target": target, "signature": base64.b64encode(signature).decode()}


async def push(client: Any, config: dict[str, Any], **kw: Any) -> Any:
    return await client.put("/admin/traffic", json=signed(config, **kw))


def versions_of(responses: list[Any]) -> list[str]:
    return [r.headers["x-model-version"] for r in responses]


@pytest.mark.asyncio
async def test_the_split_follows_pushes_and_every_answer_names_its_version(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path), loader=stand_in)
    async with serve_in_process(app) as client:
        rows = {"features": [[1, 2]]}
        before = [await client.post("/predict", json=rows) for _ in range(10)]
        assert versions_of(before) == ["1"] * 10, "no traffic configuration: stable only"
        assert (await push(client, {"revision": 1, "mode": "canary", "weight": 30})).is_success
        after = [await client.post("/predict", json=rows) for _ in range(100)]
        assert versions_of(after).count("2") == 30
        assert all(r.json()["model_version"] == r.headers["x-model-version"] for r in after)
        metrics = (await client.get("/metrics")).text
        assert '{code="200",endpoint="/predict",model="fraud",version="2"} 30.0' in metrics
        assert 'modelops_runtime_traffic_revision{model="fraud"} 1.0' in metrics
        assert (tmp_path / "pushed.json").exists(), "other workers follow the pushed file"


@pytest.mark.asyncio
async def test_ab_keys_stick_to_their_variant(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path), loader=stand_in)
    async with serve_in_process(app) as client:
        config = {"revision": 1, "mode": "abtest", "weight": 50, "key": "header:X-User-Id"}
        assert (await push(client, config)).is_success
        seen: dict[str, set[str]] = {}
        for i in range(200):
            user = f"u{i % 20}"
            r = await client.post(
                "/predict", json={"features": [[i, 0]]}, headers={"X-User-Id": user}
            )
            seen.setdefault(user, set()).add(r.headers["x-model-version"])
        assert all(len(v) == 1 for v in seen.values()), "one variant per key"
        assert {"1", "2"} == set().union(*seen.values())


@pytest.mark.asyncio
async def test_shadow_answers_from_stable_and_counts_agreement(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path), loader=stand_in)
    async with serve_in_process(app) as client:
        assert (await push(client, {"revision": 2, "mode": "shadow"})).is_success
        responses = [await client.post("/predict", json={"features": [[i, 0]]}) for i in range(10)]
        assert versions_of(responses) == ["1"] * 10
        assert [r.json()["predictions"] for r in responses] == [[0]] * 10
        metrics = ""
        for _ in range(100):
            metrics = (await client.get("/metrics")).text
            if 'modelops_runtime_shadow_rows_total{model="fraud",version="2"} 10.0' in metrics:
                break
            await asyncio.sleep(0.02)
        assert 'modelops_runtime_shadow_rows_total{model="fraud",version="2"} 10.0' in metrics
        assert 'modelops_runtime_shadow_equal_rows_total{model="fraud",version="2"} 5.0' in metrics


@pytest.mark.asyncio
async def test_a_push_needs_the_operators_signature_for_this_deployment(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path), loader=stand_in)
    async with serve_in_process(app) as client:
        config = {"revision": 1, "mode": "canary", "weight": 100}
        forged = await push(client, config, key=Ed25519PrivateKey.generate())
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "forbidden"
        elsewhere = await push(client, config, target="team-b/fraud")
        assert elsewhere.status_code == 400 and "team-b/fraud" in elsewhere.text
        tampered = signed(config) | {"config": {**config, "weight": 0}}
        assert (await client.put("/admin/traffic", json=tampered)).status_code == 403
        assert (await client.put("/admin/traffic", json=config)).status_code == 400
        bad = await push(client, {"revision": 1, "weight": 150})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"
        assert (await push(client, {"revision": 5, "mode": "canary", "weight": 10})).is_success
        stale = await push(client, {"revision": 4, "mode": "canary", "weight": 90})
        assert stale.json()["weight"] == 10, "an older revision is ignored"


@pytest.mark.asyncio
async def test_without_a_key_there_is_no_push_route(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, rollout_public_key=""), loader=stand_in)
    async with serve_in_process(app) as client:
        assert (await push(client, {"revision": 1})).status_code == 404


@pytest.mark.asyncio
async def test_a_pod_is_ready_only_with_both_versions_loaded(tmp_path: Path) -> None:
    def stable_only(s: RuntimeSettings) -> LoadedModel:
        if s.model_version == "2":
            raise OSError("artifact unavailable")
        return stand_in(s)

    app = create_app(settings(tmp_path), loader=stable_only)
    async with serve_in_process(app, ready_timeout=0) as client:
        for _ in range(100):
            body = (await client.get("/ready")).json()
            if body["candidate"]["state"] == "failed":
                break
            await asyncio.sleep(0.02)
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["reason"].startswith("Candidate")
