"""Shared pieces of the real-browser tests: Debian chromium via Playwright, screenshot checks."""

from __future__ import annotations

import io
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def require_chromium() -> None:
    """Skip unless the Debian chromium and the playwright package are there."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")


def launch(playwright: Any) -> Any:
    """Headless Debian chromium (never a downloaded browser)."""
    exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    return playwright.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def artifact(name: str) -> Path:
    """Path under tests/artifacts/ (created)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def assert_not_blank(png: bytes, what: str, min_std: float = 8.0, min_colours: int = 16) -> None:
    """The screenshot shows something: pixel spread and colour count above a flat page's."""
    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png)).convert("RGB")
    stat = ImageStat.Stat(img)
    std = sum(stat.stddev) / 3
    colours = len(img.getcolors(maxcolors=1 << 20) or [])
    assert std >= min_std and colours >= min_colours, (
        f"{what} looks blank: pixel std {std:.1f} (< {min_std}?) and {colours} colours "
        f"(< {min_colours}?)")
