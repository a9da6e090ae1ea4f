"""Shared fixtures: real third-party data by path, and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data/real`` (third-party files, used by path, never copied); skips if absent."""
    root = Path(os.environ.get("TERRANB_REAL_DATA", REAL_DATA))
    if not root.is_dir():
        pytest.skip(f"real sample data not found at {root}")
    return root


@pytest.fixture(autouse=True)
def _clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests never see the developer's DJI/AWS credentials or config files."""
    for name in list(os.environ):
        if name.startswith(("DJI_", "TERRANB_", "AWS_")) and name != "TERRANB_REAL_DATA":
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("TERRANB_LEDGER_DIR", str(home / "ledger"))
