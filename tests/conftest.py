"""Root test configuration shared by unit and integration tests."""

from __future__ import annotations

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    # pytest exits 5 when it collects nothing, which a CI script could mistake for success or
    # paper over; collecting nothing is always a mistake here, so it is an error.
    if not session.items and not session.config.option.collectonly:
        raise pytest.UsageError("no tests were collected: check the paths and -k/-m filters")
