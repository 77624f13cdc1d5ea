"""devenv.services: stopping what is not running is a no-op."""

from __future__ import annotations

from pathlib import Path

from devenv import services


def test_services_down_in_an_empty_state_dir(tmp_path: Path) -> None:
    (tmp_path / "services.json").write_text("{}")
    services.services_down(tmp_path)
    assert not (tmp_path / "services.json").exists()
