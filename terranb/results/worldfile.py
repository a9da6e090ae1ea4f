"""World files (``.tfw``, ``.wld``, ``.jgw`` ...): six numbers that georeference a raster.

A world file holds, one per line::

    A   x size of a pixel (x scale)
    D   rotation term (row -> y)
    B   rotation term (column -> x)
    E   y size of a pixel, negative for north-up images
    C   x of the CENTRE of the upper-left pixel
    F   y of the CENTRE of the upper-left pixel

The last two lines use the pixel-centre convention, whereas GDAL, rasterio and
:class:`affine.Affine` use the outer corner of the upper-left pixel. Mixing the two
shifts the image by half a pixel; this module does the conversion in one place.
A world file carries no coordinate reference system: that comes from a ``.prj``
file beside it or from elsewhere.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from terranb.errors import ResultFormatError, require

if TYPE_CHECKING:
    from affine import Affine

__all__ = ["find_world_file", "read_world_file", "world_file_suffixes", "write_world_file"]


def write_world_file(path: str | os.PathLike[str], transform: Affine) -> Path:
    """Write ``transform`` (corner-based, as rasterio gives it) as a six-line world file.

    The file is written atomically (``.part`` then rename) with 10 decimals, enough
    for centimetre pixels in any projected CRS and for micro-degrees in geographic
    ones.

    Args:
        path: destination, e.g. ``map/result.tfw``.
        transform: an :class:`affine.Affine` mapping (col, row) of pixel corners to
            (x, y), i.e. ``dataset.transform`` in rasterio.

    Returns:
        The path written.
    """
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    # Move the origin from the outer corner to the centre of the upper-left pixel.
    cx = c + a / 2.0 + b / 2.0
    cy = f + d / 2.0 + e / 2.0
    text = "".join(f"{v:.10f}\n" for v in (a, d, b, e, cx, cy))
    out = Path(path)
    part = out.with_name(out.name + ".part")
    part.write_text(text, encoding="ascii")
    os.replace(part, out)
    return out


def read_world_file(path: str | os.PathLike[str]) -> Affine:
    """Read a world file into a corner-based :class:`affine.Affine`.

    Blank lines and surrounding spaces are ignored; decimal commas are accepted
    (some European tools write them).

    Args:
        path: a ``.tfw``, ``.wld``, ``.jgw`` ... file.

    Returns:
        The transform of pixel corners, the same as rasterio's ``dataset.transform``.

    Raises:
        ResultFormatError: the file is missing or does not hold six numbers.
    """
    affine = require("affine", "geo")
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ResultFormatError(f"cannot read world file {p}: {exc}") from exc
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    if len(lines) < 6:
        raise ResultFormatError(
            f"world file {p} has {len(lines)} non-empty lines, expected 6 "
            "(x size, rotation, rotation, y size, x and y of the upper-left pixel centre)"
        )
    try:
        a, d, b, e, cx, cy = (float(ln.replace(",", ".")) for ln in lines[:6])
    except ValueError as exc:
        raise ResultFormatError(
            f"world file {p} holds a value that is not a number: {exc}") from exc
    if not all(math.isfinite(v) for v in (a, d, b, e, cx, cy)):
        raise ResultFormatError(
            f"world file {p} holds NaN or infinity: the raster cannot be placed; fix or "
            "delete the world file")
    if (a == 0 and b == 0) or (d == 0 and e == 0):
        raise ResultFormatError(
            f"world file {p} has a zero pixel size: the raster cannot be placed")
    # Back from the pixel centre to the outer corner.
    c = cx - a / 2.0 - b / 2.0
    f = cy - d / 2.0 - e / 2.0
    return affine.Affine(a, b, c, d, e, f)


def world_file_suffixes(raster_suffix: str) -> list[str]:
    """World-file suffixes to look for beside a raster, most specific first.

    ``.tif`` gives ``[".tfw", ".tifw", ".wld"]``; ``.jpg`` gives ``[".jgw", ".jpgw", ".wld"]``.
    """
    ext = raster_suffix.lower().lstrip(".")
    out: list[str] = []
    if len(ext) >= 2:
        out.append(f".{ext[0]}{ext[-1]}w")
    out.append(f".{ext}w")
    if ext == "tiff":
        out.append(".tfw")
    out.append(".wld")
    return list(dict.fromkeys(out))


def find_world_file(raster: str | os.PathLike[str]) -> Path | None:
    """The world file beside ``raster`` (any letter case), or ``None``.

    Looks for ``<stem><suffix>`` for each of :func:`world_file_suffixes`, then
    ``<name>.wld`` (``result.tif.wld``), which some tools write.
    """
    p = Path(raster)
    if not p.parent.is_dir():
        return None
    names = {q.name.lower(): q for q in p.parent.iterdir() if q.is_file()}
    candidates = [p.stem + s for s in world_file_suffixes(p.suffix)] + [p.name + ".wld"]
    for cand in candidates:
        hit = names.get(cand.lower())
        if hit is not None:
            return hit
    return None
