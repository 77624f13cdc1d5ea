"""What the batch jobs share: the entry point, data loading, and the result's way out."""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelops.serving_runtime.errors import BadInput, JobError

# A retry cannot help (BadInput): the operator's Jobs fail at once on it (podFailurePolicy),
# as on argparse's usage error, 2.
EXIT_BAD_INPUT = 3
# The kubelet keeps at most 4096 bytes of a termination message.
TERMINATION_LIMIT = 4096
# Keys dropped first when the message would not fit: detail that the stdout line keeps.
_OPTIONAL_KEYS = ("columnScores", "views")


def env_default(name: str) -> str | None:
    return os.environ.get(name) or None


def redact(url: str) -> str:
    """A URL fit for a message: the password replaced."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _read_file(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path)
        try:
            return pd.read_parquet(path)
        except Exception:  # whatever pyarrow raises, it is not parquet: try csv
            return pd.read_csv(path)
    except Exception as exc:
        raise BadInput(f"could not read {path.name} as parquet or csv: {exc}") from exc


def load_table(uri: str, tracking_uri: str | None = None) -> Any:
    """A DataFrame from a local path, a directory of parquet/csv files, or any URI MLflow can
    download (runs:/, models:/, s3://, mlflow-artifacts:/) or http(s)."""
    import pandas as pd

    if uri.startswith(("http://", "https://")):
        tmp = Path(tempfile.mkdtemp(prefix="modelops-data-"))
        target = tmp / (Path(urllib.parse.urlsplit(uri).path).name or "data")
        try:
            # The spec's own data URL, and only http(s) gets here: no scheme to audit.
            urllib.request.urlretrieve(uri, target)
        except OSError as exc:
            raise JobError(f"could not download {uri}: {exc}") from exc
        path = target
    elif uri.startswith("/") or uri.startswith("file:"):
        path = Path(uri.removeprefix("file://").removeprefix("file:"))
    else:
        import mlflow

        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri,
                dst_path=tempfile.mkdtemp(prefix="modelops-data-"),
                tracking_uri=tracking_uri,
            )
        except Exception as exc:
            raise JobError(f"could not download {uri}: {exc}") from exc
        path = Path(local)
    if not path.exists():
        raise BadInput(f"{uri} does not exist")
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq", ".csv")
        )
        if not files:
            raise BadInput(f"{uri} holds no parquet or csv file")
        frame = pd.concat([_read_file(p) for p in files], ignore_index=True)
    else:
        frame = _read_file(path)
    if frame.empty:
        raise BadInput(f"{uri} holds no rows")
    return frame


def termination_message(result: dict[str, Any]) -> str:
    """The result compacted to fit the kubelet's limit, dropping detail before facts."""
    doc = dict(result)
    text = json.dumps(doc, separators=(",", ":"), default=str)
    for key in _OPTIONAL_KEYS:
        if len(text.encode()) <= TERMINATION_LIMIT:
            break
        doc.pop(key, None)
        text = json.dumps(doc, separators=(",", ":"), default=str)
    for key, value in list(doc.items()):
        if len(text.encode()) <= TERMINATION_LIMIT:
            break
        if isinstance(value, list) and value:
            doc[key] = value[:10]
            doc[f"{key}Truncated"] = len(value)
            text = json.dumps(doc, separators=(",", ":"), default=str)
    if len(text.encode()) > TERMINATION_LIMIT and isinstance(doc.get("error"), str):
        doc["error"] = doc["error"][:1000]
        text = json.dumps(doc, separators=(",", ":"), default=str)
    return text


def emit_result(result: dict[str, Any], started: datetime) -> None:
    """Print the result as the last stdout line and leave it as the termination message."""
    doc = {
        **result,
        "startTime": started.isoformat().replace("+00:00", "Z"),
        "completionTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    path = Path(os.environ.get("TERMINATION_MESSAGE_PATH", "/dev/termination-log"))
    try:
        if path.parent.exists() and (path.exists() or path.parent != Path("/dev")):
            path.write_text(termination_message(doc))
    except OSError:
        pass  # outside a pod: stdout is the result
    print(json.dumps(doc, default=str), flush=True)


def run_job(
    prog: str,
    description: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    argv: list[str] | None,
    *,
    unexpected: tuple[type[BaseException], ...] = (Exception,),
    describe: Callable[[BaseException], str] = lambda exc: f"{type(exc).__name__}: {exc}",
) -> int:
    """A job's `main`: parse the flags, run, and emit the result. Exit 0 on success,
    EXIT_BAD_INPUT when a retry cannot help (BadInput), 1 on any other failure (a JobError's
    message, or `unexpected {describe(exc)}` for the `unexpected` ones): a result either way,
    never a stack trace (the operator reads the result). argparse's usage errors exit 2."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    _configure_logs()
    started = datetime.now(UTC)
    stage(f"{prog} started")
    try:
        result = run(args)
        code = 0
    except BadInput as exc:
        result = {"error": str(exc)}
        code = EXIT_BAD_INPUT
    except JobError as exc:
        result = {"error": str(exc)}
        code = 1
    except unexpected as exc:
        result = {"error": f"unexpected {describe(exc)}"}
        code = 1
    seconds = round((datetime.now(UTC) - started).total_seconds(), 3)
    if code == 0:
        stage(f"{prog} succeeded", seconds=seconds)
    else:
        log.warning(f"{prog} failed", extra={"exitCode": code, "seconds": seconds, **result})
    emit_result(result, started)
    return code


log = logging.getLogger("modelops.jobs")


def stage(message: str, **fields: Any) -> None:
    """One JSON log line (stderr) as a job enters a stage or makes progress."""
    log.info(message, extra=fields)


def _configure_logs() -> None:
    """JSON lines on stderr, stdout being the result alone; no progress bars (tqdm redraws a
    line with carriage returns, which a pod's log keeps as one unreadable line)."""
    from modelops.serving_runtime import logs

    os.environ.setdefault("TQDM_DISABLE", "1")
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"), stream="ext://sys.stderr")


class Progress:
    """Periodic progress of a long stage: `add(n)` counts, and a line is logged at most every
    `every` seconds (a stage of a million rows logs a few lines, not a million)."""

    def __init__(self, message: str, every: float = 10.0) -> None:
        self.message, self.every = message, every
        self.done = 0
        self._last = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            stage(self.message, rows=self.done)
