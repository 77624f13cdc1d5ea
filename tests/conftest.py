"""Root test configuration shared by unit and integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Importing Feast sets these (prometheus-client's multiprocess mode) in the process that imports
# it; a test that runs a job in-process would otherwise switch every later test, and every
# subprocess a later test starts, into multiprocess mode (where a gauge cannot drop a series).
_PROMETHEUS_VARS = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")


# Module scope and autouse: set up before, and restored after, a module's own module fixtures.
@pytest.fixture(scope="module", autouse=True)
def _no_leaked_multiprocess_mode() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in _PROMETHEUS_VARS}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def pytest_collection_finish(session: pytest.Session) -> None:
    # pytest exits 5 when it collects nothing, which a CI script could mistake for success or
    # paper over; collecting nothing is always a mistake here, so it is an error.
    if not session.items and not session.config.option.collectonly:
        raise pytest.UsageError("no tests were collected: check the paths and -k/-m filters")
