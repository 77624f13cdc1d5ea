"""MLflow, Redis and an S3-compatible object store (S3Proxy) for tests and the demo, and
the demo's operator, as local processes."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .node import node_endpoint
from .process import ROOT, STATE, Proc, free_port, log, tail, venv_bin, wait_http

S3_GET_SCRIPT = ROOT / "scripts" / "get-s3.sh"
S3_BUCKET = "modelops"
S3_REGION = "us-east-1"


def redis_start(state: Path, port: int | None = None, durable: bool = False) -> str:
    """redis-server on loopback; `durable`: every write fsynced to its append-only file before
    it is acknowledged, so a SIGKILL loses nothing that was acknowledged (the fault tests count
    what the prediction log kept across a kill)."""
    port = port or free_port()
    data = state / "redis"
    data.mkdir(parents=True, exist_ok=True)
    proc = Proc(state, "redis")
    proc.start(
        [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "yes" if durable else "no",
            *(["--appendfsync", "always"] if durable else []),
        ]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not proc.alive():
            proc.stop()
            raise RuntimeError(f"redis-server exited:\n{tail(proc.logfile)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.stop()
    raise TimeoutError("redis-server did not answer PING")


def get_s3() -> Path:
    """Fetch (or reuse from cache) S3Proxy's jar; returns its path."""
    out = subprocess.run(
        ["bash", str(S3_GET_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def s3_env(s3: dict[str, str]) -> dict[str, str]:
    """The standard variables that point boto3 and MLflow at the store, as on EKS (there,
    without the endpoint, and with the pod's role instead of keys)."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": s3["endpoint"],
        "AWS_ACCESS_KEY_ID": s3["access_key"],
        "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
        "AWS_DEFAULT_REGION": s3["region"],
    }


def sigv4_headers(
    method: str,
    url: str,
    access_key: str,
    secret_key: str,
    region: str = S3_REGION,
    body: bytes = b"",
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """The headers of an AWS Signature Version 4 S3 request (path-style, no query string):
    enough for the few calls devenv makes without boto3 (it runs before the venv exists)."""
    now = now or datetime.datetime.now(datetime.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(url)
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(parts.path or "/", safe="/~"),
            "",
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            signed,
            payload,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers


def s3_request(s3: dict[str, str], method: str, path: str, body: bytes = b"") -> int:
    """One signed request to the store; returns the HTTP status (errors included)."""
    url = f"{s3['endpoint']}{path}"
    headers = sigv4_headers(method, url, s3["access_key"], s3["secret_key"], s3["region"], body)
    req = urllib.request.Request(url, data=body if body else None, method=method)
    # urllib's default for a body is a form type, which a servlet container reads as form fields.
    req.add_header("content-type", "application/octet-stream")
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        e.close()
        return int(e.code)


def s3_start(state: Path, port: int | None = None, bucket: str = S3_BUCKET) -> dict[str, str]:
    """S3Proxy over a filesystem store on loopback, data under the state dir, one access key,
    and `bucket` created and writable. Returns the endpoint, bucket, region and keys."""
    jar = get_s3()
    port = port or free_port()
    data = state / "s3"
    (data / "data").mkdir(parents=True, exist_ok=True)
    # The keys are kept with the data: a restarted store keeps its objects and its owner.
    keys = data / "credentials.json"
    try:
        cred = json.loads(keys.read_text())
        access_key, secret_key = cred["accessKey"], cred["secretKey"]
    except (OSError, ValueError, KeyError):
        access_key = "MODELOPS" + secrets.token_hex(6).upper()
        secret_key = secrets.token_urlsafe(30)
        keys.touch(mode=0o600)
        keys.write_text(json.dumps({"accessKey": access_key, "secretKey": secret_key}))
    s3 = {
        "endpoint": f"http://127.0.0.1:{port}",
        "bucket": bucket,
        "region": S3_REGION,
        "access_key": access_key,
        "secret_key": secret_key,
    }
    conf = data / "s3proxy.conf"
    conf.touch(mode=0o600)  # it holds the secret key
    conf.write_text(
        "\n".join(
            [
                f"s3proxy.endpoint={s3['endpoint']}",
                "s3proxy.authorization=aws-v2-or-v4",
                f"s3proxy.identity={access_key}",
                f"s3proxy.credential={secret_key}",
                "jclouds.provider=filesystem-nio2",
                f"jclouds.filesystem.basedir={data / 'data'}",
                "",
            ]
        )
    )
    # A small fixed heap: the JVM would otherwise size it from the machine's memory.
    argv = [
        shutil.which("java") or "java",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-jar",
        str(jar),
        "--properties",
        str(conf),
    ]
    proc = Proc(state, "s3")
    proc.start(argv)
    try:
        # Ready when the bucket is created and an object written and deleted with the key.
        deadline = time.monotonic() + 60
        steps = [
            ("PUT", f"/{bucket}", b"", (200, 409)),  # 409: created by an earlier start
            ("PUT", f"/{bucket}/.modelops-ready", b"ready", (200,)),
            ("DELETE", f"/{bucket}/.modelops-ready", b"", (200, 204)),
        ]
        while steps:
            if not proc.alive():
                raise RuntimeError(f"s3proxy exited; see {proc.logfile}:\n{tail(proc.logfile)}")
            method, path, body, ok = steps[0]
            try:
                status = s3_request(s3, method, path, body)
            except OSError as e:
                status = 0
                last = str(e)
            else:
                last = f"HTTP {status}"
            if status in ok:
                steps.pop(0)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"S3 {method} {path} failed: {last}\n{tail(proc.logfile)}")
            time.sleep(0.3)
    except BaseException:
        proc.stop()  # never leave a half-started server behind
        raise
    return s3


# The names pods use (devenv.node.publish): mlflow.<namespace>[.svc[.cluster.local]].
MLFLOW_POD_NAMES = ("mlflow.*",)


def mlflow_start(state: Path, port: int | None = None, s3: dict[str, str] | None = None) -> str:
    """MLflow with a sqlite registry, serving artifacts (mlflow-artifacts:/) from a directory
    under the state dir, or from s3://BUCKET/mlflow in the given object store."""
    port = port or free_port()
    data = state / "mlflow"
    (data / "artifacts").mkdir(parents=True, exist_ok=True)
    destination = f"s3://{s3['bucket']}/mlflow" if s3 else str(data / "artifacts")
    proc = Proc(state, "mlflow")
    proc.start(
        [
            venv_bin("mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{data / 'mlflow.db'}",
            # Artifacts go through the server (mlflow-artifacts:/), as they would for pods.
            "--artifacts-destination",
            destination,
            # MLflow refuses Host headers it does not know (DNS rebinding): loopback, the
            # node's and Services' addresses, and the name pods use (devenv.node.publish).
            "--allowed-hosts",
            ",".join(
                f"{host}{port}"
                for host in ("localhost", "127.0.0.1", "10.*", *MLFLOW_POD_NAMES)
                for port in ("", ":*")
            ),
        ],
        env={**os.environ, **s3_env(s3)} if s3 else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", 120, proc=proc)
    except BaseException:
        proc.stop()  # never leave a half-started server behind
        raise
    return url


SERVICES = ("mlflow", "redis", "s3")


def services_up(state: Path = STATE, address: str | None = None) -> dict[str, str]:
    """Redis, the object store, and MLflow storing its artifacts there, naming the store by
    `address` (this machine as another cluster's pods reach it) or the node's (see
    node_endpoint). The S3 endpoint, bucket and keys are in the result (s3_*) and in the state
    dir's services.json."""
    info = state / "services.json"
    if info.exists() and all(Proc(state, name).alive() for name in SERVICES):
        meta: dict[str, str] = json.loads(info.read_text())
        # Started for pods elsewhere, MLflow's presigned URLs would name the wrong address.
        if "s3_endpoint" in meta and meta.get("pods_address") == (address or ""):
            return meta
    services_down(state)
    state.mkdir(parents=True, exist_ok=True)
    s3 = s3_start(state)
    meta = {
        "redis_url": redis_start(state),
        # Presigned download URLs name the store: an address pods reach too, with a real node.
        "mlflow_url": mlflow_start(
            state, s3={**s3, "endpoint": node_endpoint(state, "s3", s3["endpoint"], address)}
        ),
        "pods_address": address or "",
        **{f"s3_{key}": value for key, value in s3.items()},
    }
    info.touch(mode=0o600)  # it holds the S3 secret key
    info.write_text(json.dumps(meta, indent=2))
    log(f"MLflow at {meta['mlflow_url']}, Redis at {meta['redis_url']}, S3 at {s3['endpoint']}")
    return meta


def services_down(state: Path = STATE) -> None:
    for name in SERVICES:
        Proc(state, name).stop(timeout=15.0)
    (state / "services.json").unlink(missing_ok=True)
