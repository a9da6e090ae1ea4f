"""Vendored browser libraries (provenance checksums) and the PNG/JPEG budget helpers."""

from __future__ import annotations

import hashlib
import io
import re

import numpy as np
import pytest
from PIL import Image

from terranb.errors import ValidationError
from terranb.viz import _assets, _png

# Must match terranb/viz/vendor/README.md (npm three@0.160.1 and leaflet@1.9.4, unmodified).
VENDORED = {
    "three.min.js": "170c6789f43217c96b3170f4b42fafe135de7f7cd48497a4218f9757ee1d49fa",
    "leaflet.js": "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a",
    "leaflet.css": "a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6",
    "leaflet-images/layers.png":
        "1dbbe9d028e292f36fcba8f8b3a28d5e8932754fc2215b9ac69e4cdecf5107c6",
    "leaflet-images/layers-2x.png":
        "066daca850d8ffbef007af00b06eac0015728dee279c51f3cb6c716df7c42edf",
    "leaflet-images/marker-icon.png":
        "574c3a5cca85f4114085b6841596d62f00d7c892c7b03f28cbfa301deb1dc437",
}


@pytest.mark.parametrize("name", sorted(VENDORED))
def test_vendored_files_are_the_published_builds(name: str) -> None:
    assert hashlib.sha256(_assets.read_vendored(name)).hexdigest() == VENDORED[name]


def test_vendored_licences_present() -> None:
    assert b"MIT" in _assets.read_vendored("three.LICENSE")
    assert b"BSD 2-Clause" in _assets.read_vendored("leaflet.LICENSE")
    readme = _assets.read_vendored("README.md").decode()
    for name in ("three.min.js", "leaflet.js", "leaflet.css"):
        assert VENDORED[name] in readme, f"vendor/README.md does not list {name}'s checksum"
    assert "three@0.160.1" in readme and "leaflet@1.9.4" in readme


def test_inline_assets_are_script_safe_and_self_contained() -> None:
    js = _assets.three_js()
    assert "REVISION" in js and "</script" not in js and "sourceMappingURL" not in js
    assert "</script" not in _assets.leaflet_js()
    css = _assets.leaflet_css()
    assert "url(images/" not in css
    assert len(re.findall(r"url\(data:image/png;base64,", css)) == 3


def _noise(h: int, w: int, c: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 255, (h, w, c), dtype=np.uint8)
    if c == 4:
        a[..., 3] = 255
    return a


@pytest.mark.parametrize("budget", [20_000, 150_000])
def test_fit_png_respects_budget_and_decodes(budget: int) -> None:
    img = _noise(700, 900)
    data, (h, w) = _png.fit_png(img, budget)
    assert len(data) <= budget
    decoded = Image.open(io.BytesIO(data))
    assert decoded.size == (w, h)
    assert abs(w / h - 900 / 700) < 0.05  # aspect ratio kept


def test_fit_png_keeps_small_images_untouched() -> None:
    img = np.zeros((40, 50, 4), dtype=np.uint8)
    img[10:20, 10:20] = (255, 0, 0, 255)
    data, size = _png.fit_png(img, 100_000)
    assert size == (40, 50)
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert np.array_equal(back, img)


def test_fit_png_impossible_budget_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="raise the byte budget"):
        _png.fit_png(_noise(64, 64), 50)


def test_fit_jpeg_respects_budget() -> None:
    data, _ = _png.fit_jpeg(_noise(800, 800, 3), 60_000)
    assert len(data) <= 60_000 and data[:2] == b"\xff\xd8"


def test_ramp_and_class_colours() -> None:
    r = _png.ramp(np.array([0.0, 50.0, 100.0, np.nan]), vmin=0, vmax=100)
    assert r.dtype == np.uint8 and r.shape == (4, 3)
    assert tuple(r[0]) == (68, 1, 84) and tuple(r[2]) == (253, 231, 37)
    assert tuple(r[3]) == tuple(r[0])  # NaN at the low end
    c = _png.classification_colours(np.array([2, 6, 200]))
    assert tuple(c[0]) == _png.CLASS_COLOURS[2] and tuple(c[2]) == (128, 128, 128)
    with pytest.raises(ValidationError):
        _png.ramp(np.zeros(3), "nope")


def test_to_uint8_stretches_non_byte_bands() -> None:
    band = np.linspace(100.0, 200.0, 1000).reshape(10, 100)
    out = _png.to_uint8(band)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
