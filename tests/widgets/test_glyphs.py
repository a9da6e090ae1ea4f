"""The widgets' text uses only glyphs Debian's stock fonts have (DejaVu; no emoji font).

Every non-ASCII character of the result tree, the folder browser's entries and the
tracker's table is looked up with fontconfig (``fc-list :charset=<hex>``) among the
DejaVu families; the test is skipped where fontconfig or DejaVu are absent.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

from terranb.widgets.browser import ICON_FILE, ICON_FOLDER, tree_html


@cache
def _dejavu_has(ch: str) -> bool:
    out = subprocess.run(["fc-list", f":charset={ord(ch):x}", "family"], capture_output=True,
                         text=True, timeout=30).stdout
    return "DejaVu" in out


def _require_dejavu() -> None:
    if shutil.which("fc-list") is None:
        pytest.skip("fontconfig (fc-list) is not installed")
    if not _dejavu_has("A"):
        pytest.skip("fonts-dejavu is not installed")


def _missing(text: str) -> set[str]:
    return {f"U+{ord(c):04X}" for c in set(text) if ord(c) > 127 and not _dejavu_has(c)}


def test_the_check_itself_finds_the_old_emoji_icons() -> None:
    _require_dejavu()
    assert _missing("\U0001F4C1 folder \U0001F4C4 file") == {"U+1F4C1", "U+1F4C4"}


def test_tree_folder_browser_and_tracker_text_render_with_dejavu(tmp_path: Path) -> None:
    _require_dejavu()
    from terranb.widgets.submit import FolderBrowser

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "DJI_0001.JPG").write_bytes(b"x")
    (tmp_path / "mission.json").write_text("{}")
    tree = tree_html(tmp_path)
    assert ICON_FOLDER in tree and ICON_FILE in tree  # SVG icons, not font glyphs
    assert _missing(tree) == set()
    entries = FolderBrowser(tmp_path, lambda _p: None).entries(tmp_path)
    assert _missing(" ".join(label for label, _v in entries)) == set()
    import terranb.widgets.tracker as tracker_mod

    assert _missing(Path(tracker_mod.__file__).read_text(encoding="utf-8")) == set()
