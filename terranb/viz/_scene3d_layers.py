"""Layers of the 3D viewer and how their arrays are encoded into the page.

Points and meshes are held as :class:`PointLayer` / :class:`MeshLayer` (z-up,
float arrays); :func:`quantise` and :func:`b64` turn them into the compact base64
typed arrays the page decodes; textures are validated here and decoded only when
the page is built (:func:`load_texture`), one at a time.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import terranb.viz._png as _png
from terranb.errors import ValidationError, require
from terranb.results.decimate import decimate_arrays

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Built", "MeshLayer", "PointLayer", "b64", "check_texture", "class_legend",
           "elevation", "load_texture", "quantise", "rgb8"]


@dataclass
class PointLayer:
    name: str
    xyz: np.ndarray
    rgb: np.ndarray | None
    size: float
    source_count: int
    legend: dict[str, Any] | None = None


@dataclass
class MeshLayer:
    name: str
    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None
    texture: Any  # a Path, PIL image or uint8 array; decoded when encoding
    colors: np.ndarray | None
    source_faces: int
    legend: dict[str, Any] | None = None
    _cache: dict[int, Any] = field(default_factory=dict, repr=False)

    def cached_within(self, max_faces: int) -> Any:
        """The largest decimation already computed that has at most ``max_faces`` faces."""
        fits = [d for d in self._cache.values() if len(d.faces) <= max_faces]
        return max(fits, key=lambda d: len(d.faces)) if fits else None

    def decimated(self, target: int) -> Any:
        if target not in self._cache:
            self._cache[target] = decimate_arrays(self.vertices, self.faces, target,
                                                   uv=self.uv, colors=self.colors)
        return self._cache[target]


@dataclass
class Built:
    html: str
    stats: dict[str, Any]


def rgb8(rgb: Any) -> np.ndarray:
    """Colours of any common encoding (uint8, LAS uint16, float 0-1) as uint8 (N, 3)."""
    np = require("numpy", "geo")
    a = np.asarray(rgb)
    if a.ndim != 2 or a.shape[1] < 3:
        raise ValidationError(f"colours must be an (N, 3) array, got shape {a.shape}")
    a = a[:, :3]
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        top = float(np.nanmax(a)) if a.size else 1.0
        a = a * 255.0 if top <= 1.0 else a
        return np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
    top = int(a.max()) if a.size else 0
    # LAS stores 16-bit colour; some writers put 8-bit values in those fields.
    return (a // 257 if top > 255 else a).astype(np.uint8)


def check_texture(texture: Any) -> Any:
    """Validate a texture source without decoding it (paths stay paths until encoding)."""
    np = require("numpy", "geo")
    if isinstance(texture, (str, os.PathLike)):
        p = Path(texture)
        if not p.is_file():
            raise ValidationError(f"texture file {p} does not exist")
        return p
    if hasattr(texture, "convert"):  # a PIL image
        return texture
    a = np.asarray(texture)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] < 3:
        raise ValidationError(f"texture must be an image path or (H, W, 3) array, got {a.shape}")
    return _png.to_uint8(a[..., :3]) if a.dtype != np.uint8 else a[..., :3]


def load_texture(texture: Any, max_px: int) -> np.ndarray:
    """Decode a texture source to RGB uint8 with its longest side at most ``max_px``.

    Textures are decoded one at a time and reduced on decode (JPEG draft mode), so a
    mesh with dozens of 8k atlases never holds them all at full size.
    """
    np = require("numpy", "geo")
    pil = require("PIL.Image", "geo")
    if isinstance(texture, Path):
        with pil.open(texture) as im:
            im.draft("RGB", (max_px, max_px))  # JPEG: decode at 1/2, 1/4, 1/8 scale
            img = im.convert("RGB")
    elif hasattr(texture, "convert"):
        img = texture.convert("RGB")
    else:
        img = pil.fromarray(np.ascontiguousarray(texture))
    if max(img.size) > max_px:
        img = img.copy()
        img.thumbnail((max_px, max_px), pil.Resampling.LANCZOS)
    return np.asarray(img)


def elevation(z: Any) -> tuple[Any, dict[str, Any]]:
    """Viridis colours for heights and the legend describing them."""
    lo, hi = _png.ramp_range(z)
    return _png.ramp(z, "viridis", lo, hi), {"ramp": _png.ramp_css("viridis"),
                                             "min": round(lo, 2), "max": round(hi, 2)}


def class_legend(codes: Any, most: int = 16) -> dict[str, Any]:
    """The classes present (most frequent first) with their colours and ASPRS names."""
    np = require("numpy", "geo")
    counts = np.bincount(np.asarray(codes).astype(np.int64) & 0xFF, minlength=256)
    present = [int(c) for c in np.argsort(-counts) if counts[c] > 0][:most]
    out = []
    for c in present:
        r, g, b = _png.CLASS_COLOURS.get(c, (128, 128, 128))
        out.append([c, _png.CLASS_NAMES.get(c, f"class {c}"), f"#{r:02x}{g:02x}{b:02x}",
                    int(counts[c])])
    return {"classes": out}


def b64(a: np.ndarray) -> str:
    return base64.b64encode(a.tobytes()).decode("ascii")


def quantise(xyz: np.ndarray, centre: np.ndarray) -> tuple[str, list[float], list[float]]:
    """16-bit normalised positions, plus the offset and scale three.js applies to them."""
    np = require("numpy", "geo")
    lo = xyz.min(axis=0)
    ext = xyz.max(axis=0) - lo
    ext = np.where(ext > 0, ext, 1.0)
    q = np.round((xyz - lo) / ext * 65535.0).astype("<u2")
    return b64(q), [float(v) for v in (lo - centre)], [float(v) for v in ext]
