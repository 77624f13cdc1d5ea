"""Which version answers a request during a rollout: the split the operator asks for, applied
in-process so that its weight is exact at any replica count and changes without a restart."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger("modelops.serving_runtime.traffic")

Mode = Literal["none", "canary", "shadow", "abtest"]
Sums = tuple[float, float, float]  # sum |candidate - stable|, sum stable, sum stable**2


class TrafficConfig(BaseModel):
    """What the operator sets: the mounted ConfigMap at start, pushes for every change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    revision: int = Field(default=0, ge=0)
    """Newer configurations have larger revisions; an older one never replaces a newer."""
    mode: Mode = "none"
    """canary: `weight` percent of requests, spread evenly; abtest: `weight` percent of
    request keys, each key always to the same variant; shadow: the stable version answers
    and the candidate predicts on a copy; none: the stable version only."""
    weight: int = Field(default=0, ge=0, le=100)
    """The candidate's share, in percent."""
    key: str | None = Field(default=None, pattern=r"^(header:[A-Za-z0-9-]+|entity:[A-Za-z_]\w*)$")
    """abtest: where a request's key is read, `header:NAME` or `entity:JOIN_KEY`."""


def signed_message(config: dict[str, Any], target: str) -> bytes:
    """What the operator signs: the configuration and the deployment it is for, canonically."""
    return json.dumps(
        {"config": config, "target": target}, sort_keys=True, separators=(",", ":")
    ).encode()


def verify_push(doc: Any, public_key: str, target: str) -> TrafficConfig:
    """The configuration of a push, if the operator signed it for this deployment; else a
    ValueError saying why."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(doc, dict) or set(doc) != {"config", "target", "signature"}:
        raise ValueError("expected {config, target, signature}")
    if doc["target"] != target:
        raise ValueError(f"signed for {doc['target']!r}, not for this deployment")
    config = TrafficConfig.model_validate(doc["config"])
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(base64.b64decode(str(doc["signature"])), signed_message(doc["config"], target))
    except (InvalidSignature, binascii.Error, ValueError) as e:
        raise PermissionError("the signature does not verify") from e
    return config


def bucket(key: str) -> int:
    """A key's A/B bucket, 0-99: the same in every worker and pod (no per-process seed)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100


class Splitter:
    """Sends exactly `weight` percent of requests to the candidate: an error-diffusion counter
    gives candidate k*w/100 rounded down after k requests, so every pod (and every worker)
    splits exactly on its own and the sum over pods is exact whatever the load balancer
    does."""

    def __init__(self) -> None:
        self.config = TrafficConfig()
        self._carry = 0

    def update(self, config: TrafficConfig) -> bool:
        """Take `config` if it is newer than the one in force."""
        if config.revision < self.config.revision or config == self.config:
            return False
        self.config = config
        self._carry = 0
        return True

    def to_candidate(self, key: str | None) -> bool:
        c = self.config
        if c.mode == "canary":
            self._carry += c.weight
            if self._carry >= 100:
                self._carry -= 100
                return True
            return False
        if c.mode == "abtest":
            return key is not None and bucket(key) < c.weight
        return False

    @property
    def shadow(self) -> bool:
        return self.config.mode == "shadow"


def read_config(path: str) -> TrafficConfig | None:
    """The configuration in a file, or None when it is absent or unreadable (logged)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("Cannot read the traffic configuration", extra={"path": path, "error": str(e)})
        return None
    try:
        return TrafficConfig.model_validate(json.loads(text))
    except (ValueError, ValidationError) as e:
        log.warning("Bad traffic configuration", extra={"path": path, "error": str(e)[:500]})
        return None


def write_config(path: str, config: TrafficConfig) -> None:
    """Atomically, so a worker polling the file never reads half of it."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".traffic-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(config.model_dump_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TrafficFiles:
    """The files a worker follows: the operator's ConfigMap (current when the pod starts,
    eventually current after) and what a push wrote (current within a second, for every worker
    of the pod). The highest revision wins."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = [p for p in paths if p]
        self._seen: dict[str, float] = {}

    def poll(self) -> TrafficConfig | None:
        newest: TrafficConfig | None = None
        for path in self.paths:
            try:
                mtime = os.stat(path).st_mtime
            except OSError:
                continue
            if self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            config = read_config(path)
            if config is not None and (newest is None or config.revision > newest.revision):
                newest = config
        return newest


def agreement(stable: Any, candidate: Any, classifier: bool) -> tuple[int, int, Sums]:
    """Rows compared, rows equal, and for numeric predictions of a regressor the sums an
    agreement relative to the stable version's spread is computed from."""
    a = np.asarray(stable).ravel()
    b = np.asarray(candidate).ravel()
    if a.shape != b.shape:
        raise ValueError(f"the candidate returned {b.size} predictions for {a.size}")
    equal = int(np.sum(a == b))
    numeric = np.issubdtype(a.dtype, np.number) and np.issubdtype(b.dtype, np.number)
    # Integer predictions are labels (a python_function classifier has no classes_ to say so).
    labels = np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)
    if classifier or labels or not numeric:
        return int(a.size), equal, (0.0, 0.0, 0.0)
    af, bf = a.astype(float), b.astype(float)
    return int(a.size), equal, (float(np.abs(af - bf).sum()), float(af.sum()), float((af**2).sum()))
