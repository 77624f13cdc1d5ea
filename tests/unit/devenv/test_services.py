"""devenv.services: stopping what is not running is a no-op; the S3 signing and variables."""

from __future__ import annotations

from pathlib import Path

from devenv import services


def test_services_down_in_an_empty_state_dir(tmp_path: Path) -> None:
    (tmp_path / "services.json").write_text("{}")
    services.services_down(tmp_path)
    assert not (tmp_path / "services.json").exists()


def test_sigv4_headers_match_botocore() -> None:
    """devenv signs its few S3 calls itself (standard library only): as botocore would."""
    import datetime

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = "http://127.0.0.1:34567/modelops/dir/.modelops-ready"
    for method, body in (("PUT", b"ready"), ("DELETE", b""), ("PUT", b"")):
        request = AWSRequest(method=method, url=url, data=body)
        S3SigV4Auth(Credentials("AKID", "SECRET/key"), "s3", "us-east-1").add_auth(request)
        # botocore signs at the current time: sign at the same one.
        now = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        now = now.replace(tzinfo=datetime.UTC)
        ours = services.sigv4_headers(method, url, "AKID", "SECRET/key", "us-east-1", body, now)
        assert ours["authorization"] == request.headers["Authorization"]
        assert ours["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]


def test_s3_env_is_the_standard_variables() -> None:
    s3 = {
        "endpoint": "http://127.0.0.1:1",
        "bucket": "b",
        "region": "us-east-1",
        "access_key": "A",
        "secret_key": "S",
    }
    assert services.s3_env(s3) == {
        "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ACCESS_KEY_ID": "A",
        "AWS_SECRET_ACCESS_KEY": "S",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
