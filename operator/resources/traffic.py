"""Pure builders for a rollout's traffic: the ConfigMap pods read at start, and the signed
document the operator pushes to each pod for every change."""

from __future__ import annotations

import base64
import json
import logging
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from modelops.operator.resources.common import child_metadata, child_name, common_labels

log = logging.getLogger(__name__)
TRAFFIC_MOUNT = "/etc/modelops/traffic"
TRAFFIC_KEY = "traffic.json"
SUFFIX = "traffic"


@lru_cache
def signing_key(pem: str) -> Ed25519PrivateKey:
    """The operator's key: the configured one, or one made for this process."""
    if not pem:
        log.warning(
            "MODELOPS_ROLLOUT_SIGNING_KEY is not set: signing rollout traffic with a key made "
            "for this process (every replica needs the same key)"
        )
        return Ed25519PrivateKey.generate()
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("MODELOPS_ROLLOUT_SIGNING_KEY must be an Ed25519 private key (PEM)")
    return key


def public_key(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def target(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def signed_push(config: dict[str, Any], to: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The body of PUT /admin/traffic: the runtime verifies it with the public key and takes
    it only for its own deployment (the runtime's signed_message is the same canonical form)."""
    message = json.dumps({"config": config, "target": to}, sort_keys=True, separators=(",", ":"))
    signature = key.sign(message.encode())
    return {"config": config, "target": to, "signature": base64.b64encode(signature).decode()}


def config_map_name(name: str) -> str:
    return child_name(name, SUFFIX)


def build_traffic_config_map(
    owner: dict[str, Any], name: str, component: str, config: dict[str, Any]
) -> dict[str, Any]:
    """What a pod that starts in the middle of a rollout applies until the next push."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(owner, config_map_name(name), common_labels(name, component)),
        "data": {TRAFFIC_KEY: json.dumps(config, sort_keys=True)},
    }
