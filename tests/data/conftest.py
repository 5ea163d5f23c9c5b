"""Fixtures shared by the data tests; the file writers live in data_formats.py."""

from pathlib import Path

import pytest


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $SHAREDSPACE_DATA_DIR and an empty home, so only what a test writes can be found."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SHAREDSPACE_DATA_DIR", raising=False)
    return home
