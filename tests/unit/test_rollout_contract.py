"""The rollout's two wires between operator and runtime: the signed traffic push (the
operator's signature verifies in the runtime, for that deployment only) and the per-version
metrics (what the runtime exports is what the operator's analysis reads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from modelops.operator.clients.pods import parse
from modelops.operator.resources.traffic import public_key, signed_push, signing_key
from modelops.serving_runtime.metrics import Metrics
from modelops.serving_runtime.traffic import TrafficConfig, verify_push

CONFIG = {"revision": 7, "mode": "canary", "weight": 25}


def pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def test_the_operators_push_verifies_in_the_runtime_for_its_target_only() -> None:
    key = signing_key(pem(Ed25519PrivateKey.generate()))
    body = json.loads(json.dumps(signed_push(CONFIG, "risk/fraud", key)))  # over the wire
    assert verify_push(body, public_key(key), "risk/fraud") == TrafficConfig(**CONFIG)
    with pytest.raises(ValueError, match="not for this deployment"):
        verify_push(body, public_key(key), "risk/other")
    other = signing_key(pem(Ed25519PrivateKey.generate()))
    with pytest.raises(PermissionError):
        verify_push(body, public_key(other), "risk/fraud")


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    wrong = ec.generate_private_key(ec.SECP256R1())
    text = wrong.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    with pytest.raises(ValueError, match="Ed25519"):
        signing_key(text)


def test_the_analysis_reads_what_the_runtime_exports() -> None:
    m = Metrics("fraud", "1")
    for _ in range(90):
        m.request("/predict", 200, 0.003, "1")
    for _ in range(8):
        m.request("/invocations", 200, 0.2, "2")
    m.request("/predict", 500, 0.004, "2")
    m.request("/predict", 400, 0.004, "2")  # the client's mistake: not the model's error
    m.request("/metrics", 500, 0.001, "2")  # not a scoring route
    m.shadow("2", rows=10, equal=7, diff=(1.5, 20.0, 50.0))
    m.shadow_errors.labels("fraud", "2").inc()
    m.traffic(7, "canary", 25)
    pod = parse(m.render()[0].decode())
    assert pod.revision == 7
    stable, cand = pod.versions["1"], pod.versions["2"]
    assert (stable.requests, stable.errors) == (90, 0)
    assert (cand.requests, cand.errors) == (10, 1)
    assert cand.quantile_ms(0.5) == 250.0 and stable.quantile_ms(0.99) == 5.0
    assert (cand.shadow_rows, cand.shadow_equal, cand.shadow_errors) == (10, 7, 1)
    assert (cand.shadow_abs_diff, cand.shadow_sum, cand.shadow_sq_sum) == (1.5, 20.0, 50.0)


def test_the_operator_reads_its_key_from_the_file_the_chart_mounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelops.operator.settings import get_settings

    text = pem(Ed25519PrivateKey.generate())
    (tmp_path / "signing-key.pem").write_text(text)
    monkeypatch.setenv("MODELOPS_ROLLOUT_SIGNING_KEY_FILE", str(tmp_path / "signing-key.pem"))
    monkeypatch.delenv("MODELOPS_ROLLOUT_SIGNING_KEY", raising=False)
    get_settings.cache_clear()
    try:
        assert get_settings().rollout_signing_key == text
        assert isinstance(signing_key(get_settings().rollout_signing_key), Ed25519PrivateKey)
    finally:
        get_settings.cache_clear()
