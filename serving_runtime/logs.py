"""Structured logs: one JSON object per line, for the runtime and for uvicorn."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as is.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=repr).decode()


def log_config(level: str, stream: str = "ext://sys.stdout") -> dict[str, Any]:
    """A logging dictConfig for the runtime's and uvicorn's loggers (uvicorn takes it as
    `log_config`, so worker processes get it too). The jobs log to stderr: their stdout is
    the result line."""
    level = level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": stream,
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stdout": handler},
        "loggers": {
            "modelops": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
            "mlflow": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
            "feast": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
            # Python warnings, once captureWarnings routes them here, are logged as JSON too.
            "py.warnings": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        },
    }


def configure(level: str, stream: str = "ext://sys.stdout") -> None:
    import logging.config

    logging.config.dictConfig(log_config(level, stream))
    logging.captureWarnings(True)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
