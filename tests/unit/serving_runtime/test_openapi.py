"""The committed OpenAPI document is current, like a generated file."""

from __future__ import annotations

from modelops.serving_runtime.openapi import DOCUMENT, REGENERATE, render


def test_openapi_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), f"serving_runtime/openapi.json is stale: {REGENERATE}"


def test_document_describes_every_protocol() -> None:
    import json

    doc = json.loads(render())
    paths = set(doc["paths"])
    assert {
        "/predict",
        "/predict/batch",
        "/invocations",
        "/v2/models/{name}/infer",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/health/live",
        "/v2/health/ready",
        "/health",
        "/ready",
        "/metrics",
    } <= paths
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/PredictRequest"
    assert "PredictRequest" in doc["components"]["schemas"]
    assert "text/csv" in doc["paths"]["/invocations"]["post"]["requestBody"]["content"]
