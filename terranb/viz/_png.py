"""Raster helpers for the viewers: PNG/JPEG within a byte budget, colour ramps, data URIs.

Every image terranb embeds in an HTML page goes through here, so the "output is
bounded" promise lives in one place: :func:`fit_png` shrinks (and, when that
helps, palettises) an image until its PNG encoding fits a byte budget.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from terranb.errors import ValidationError, require

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CLASS_COLOURS",
    "CLASS_NAMES",
    "classification_colours",
    "data_uri",
    "encode_jpeg",
    "encode_png",
    "fit_jpeg",
    "fit_png",
    "ramp",
    "ramp_css",
    "ramp_range",
    "to_uint8",
]

# Anchors of a perceptually ordered ramp (sampled from matplotlib's "viridis" at
# 0, .25, .5, .75, 1) so elevation colouring needs no matplotlib at run time.
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
# Dark-to-bright ramp (sampled from "inferno") for point density heat maps.
_INFERNO = ((0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164))
RAMPS = {"viridis": _VIRIDIS, "inferno": _INFERNO}

# ASPRS LAS 1.4 standard classes (R15 table 17) with conventional viewer colours.
CLASS_COLOURS: dict[int, tuple[int, int, int]] = {
    0: (160, 160, 160),  # created, never classified
    1: (200, 200, 200),  # unclassified
    2: (166, 118, 70),  # ground
    3: (160, 220, 120),  # low vegetation
    4: (80, 180, 60),  # medium vegetation
    5: (30, 120, 40),  # high vegetation
    6: (230, 70, 60),  # building
    7: (255, 0, 255),  # low point (noise)
    8: (255, 200, 0),  # model key / reserved
    9: (60, 120, 230),  # water
    10: (120, 80, 40),  # rail
    11: (90, 90, 90),  # road surface
    12: (255, 160, 200),  # overlap / reserved
    13: (250, 250, 120),  # wire guard
    14: (250, 220, 60),  # wire conductor
    15: (200, 120, 255),  # transmission tower
    16: (255, 140, 0),  # wire-structure connector
    17: (140, 140, 200),  # bridge deck
    18: (255, 0, 128),  # high noise
}


CLASS_NAMES: dict[int, str] = {
    0: "never classified", 1: "unclassified", 2: "ground", 3: "low vegetation",
    4: "medium vegetation", 5: "high vegetation", 6: "building", 7: "low point (noise)",
    8: "model key", 9: "water", 10: "rail", 11: "road surface", 12: "overlap",
    13: "wire guard", 14: "wire conductor", 15: "transmission tower",
    16: "wire connector", 17: "bridge deck", 18: "high noise",
}


def ramp_range(values: np.ndarray) -> tuple[float, float]:
    """The default value range of :func:`ramp`: 2nd and 98th percentile of finite values."""
    np = require("numpy", "geo")
    v = np.asarray(values, dtype="float64")
    finite = v[np.isfinite(v)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [2, 98])
    return float(lo), float(hi)


def ramp_css(name: str = "viridis") -> str:
    """A CSS ``linear-gradient`` matching :func:`ramp`, for legends."""
    stops = ", ".join(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in RAMPS[name])
    return f"linear-gradient(to right, {stops})"


def ramp(values: np.ndarray, name: str = "viridis", vmin: float | None = None,
         vmax: float | None = None) -> np.ndarray:
    """Map values to RGB with a built-in colour ramp.

    Args:
        values: any numeric array; NaNs map to the low end.
        name: ``"viridis"`` or ``"inferno"``.
        vmin, vmax: value range; defaults to the 2nd and 98th percentile so a few
            outliers (birds, multipath) do not flatten the ramp.

    Returns:
        ``uint8`` array of shape ``values.shape + (3,)``.
    """
    np = require("numpy", "geo")
    if name not in RAMPS:
        raise ValidationError(f"unknown colour ramp {name!r}; use one of {sorted(RAMPS)}")
    v = np.asarray(values, dtype="float64")
    if vmin is None or vmax is None:
        lo, hi = ramp_range(v)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    span = vmax - vmin if vmax > vmin else 1.0
    t = np.clip(np.nan_to_num((v - vmin) / span, nan=0.0), 0.0, 1.0)
    anchors = np.asarray(RAMPS[name], dtype="float64")
    pos = np.linspace(0.0, 1.0, len(anchors))
    out = np.empty((*v.shape, 3), dtype="uint8")
    for c in range(3):
        out[..., c] = np.round(np.interp(t, pos, anchors[:, c])).astype("uint8")
    return out


def classification_colours(classes: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` colours for ASPRS classification codes (unknown codes are grey)."""
    np = require("numpy", "geo")
    table = np.full((256, 3), 128, dtype="uint8")
    for code, rgb in CLASS_COLOURS.items():
        table[code] = rgb
    return table[np.asarray(classes).astype("int64") & 0xFF]


def to_uint8(band: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Scale a band of any dtype to ``uint8`` (uint8 passes through; others 2-98 % stretch)."""
    np = require("numpy", "geo")
    a = np.asarray(band)
    if a.dtype == np.uint8:
        return a
    sample = a[valid] if valid is not None else a
    sample = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    if sample.size == 0:
        return np.zeros(a.shape, dtype="uint8")
    lo, hi = np.percentile(sample, [2, 98])
    if hi <= lo:
        hi = lo + 1
    scaled = (a.astype("float64") - lo) * (255.0 / (hi - lo))
    return np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).astype("uint8")


def _image(array: np.ndarray) -> Any:
    np = require("numpy", "geo")
    pil = require("PIL.Image", "geo")
    a = np.ascontiguousarray(array)
    if a.dtype != np.uint8:
        raise ValidationError(f"images must be uint8 arrays, got {a.dtype}")
    if a.ndim == 2:
        return pil.fromarray(a, mode="L")
    if a.ndim == 3 and a.shape[2] in (3, 4):
        return pil.fromarray(a, mode="RGB" if a.shape[2] == 3 else "RGBA")
    raise ValidationError(f"images must be (H, W), (H, W, 3) or (H, W, 4); got {a.shape}")


def encode_png(array: np.ndarray, palette: bool = False) -> bytes:
    """PNG bytes of a ``uint8`` (H, W[, 3|4]) array.

    ``palette=True`` quantises to 256 colours (alpha becomes on/off at 50 %).
    """
    img = _image(array)
    extra: dict[str, Any] = {}
    if palette and img.mode in ("RGB", "RGBA"):
        img, extra = _palettise(img, array)
    buf = io.BytesIO()
    # zlib level 6 without PIL's filter search: ~5x faster than optimize=True and
    # within a few percent of its size on photos.
    img.save(buf, format="PNG", compress_level=6, **extra)
    return buf.getvalue()


def _palettise(img: Any, array: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """256-colour version of an RGB(A) image; alpha becomes binary (one transparent index).

    PIL's RGBA quantiser also quantises alpha (opaque turns into 254), so colours are
    quantised from RGB alone and index 255 is reserved for transparent pixels.
    """
    np = require("numpy", "geo")
    pil = require("PIL.Image", "geo")
    if img.mode == "RGB":
        return img.quantize(colors=256, method=pil.Quantize.FASTOCTREE,
                            dither=pil.Dither.NONE), {}
    q = img.convert("RGB").quantize(colors=255, method=pil.Quantize.FASTOCTREE,
                                    dither=pil.Dither.NONE)
    idx = np.asarray(q).copy()
    idx[np.asarray(array)[..., 3] < 128] = 255
    out = pil.fromarray(idx, mode="P")
    pal = (q.getpalette() or [])[: 255 * 3]
    out.putpalette(pal + [0] * (768 - len(pal)))
    return out, {"transparency": bytes([255] * 255 + [0])}


def encode_jpeg(array: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of a ``uint8`` (H, W[, 3]) array (alpha, if any, is dropped)."""
    img = _image(array)
    if img.mode == "RGBA":
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _resize(array: np.ndarray, scale: float) -> np.ndarray:
    np = require("numpy", "geo")
    pil = require("PIL.Image", "geo")
    img = _image(array)
    w = max(1, int(img.width * scale))
    h = max(1, int(img.height * scale))
    return np.asarray(img.resize((w, h), pil.Resampling.LANCZOS))


def fit_png(array: np.ndarray, max_bytes: int, min_side: int = 16) -> tuple[bytes, tuple[int, int]]:
    """Encode as PNG, shrinking (and palettising) until the result is at most ``max_bytes``.

    Tries the full-colour PNG first, then a 256-colour palette PNG (often 3-4x
    smaller for photos, which buys resolution), then scales the image down by the
    square root of the overshoot and tries again.

    Returns:
        ``(png_bytes, (height, width))`` of the image actually encoded.

    Raises:
        ValidationError: the budget cannot be met even at ``min_side`` pixels.
    """
    if max_bytes <= 0:
        raise ValidationError(f"max_bytes must be positive, got {max_bytes}")
    current = _presize(array, max_bytes, encode_png)
    while True:
        data = encode_png(current)
        if len(data) <= max_bytes:
            return data, (current.shape[0], current.shape[1])
        if current.ndim == 3:
            small = encode_png(current, palette=True)
            if len(small) <= max_bytes:
                return small, (current.shape[0], current.shape[1])
            data = min(data, small, key=len)
        if min(current.shape[0], current.shape[1]) <= min_side:
            raise ValidationError(
                f"cannot fit a PNG into {max_bytes} bytes even at "
                f"{current.shape[1]}x{current.shape[0]} pixels; raise the byte budget"
            )
        # PNG size scales roughly with pixel count; aim a little under the budget.
        scale = min(0.9, 0.95 * (max_bytes / len(data)) ** 0.5)
        current = _resize(current, scale)


_SAMPLE_PIXELS = 250_000


def _presize(array: np.ndarray, max_bytes: int, encoder: Any) -> np.ndarray:
    """Shrink a big image up front to the size a small trial encode predicts will fit.

    Encoding a multi-megapixel image several times is what makes budget fitting
    slow; a downsampled trial has at least the bytes per pixel of the full image
    (less redundancy), so the prediction errs on the small side.
    """
    pixels = array.shape[0] * array.shape[1]
    if pixels <= 4 * _SAMPLE_PIXELS:
        return array
    trial = _resize(array, (_SAMPLE_PIXELS / pixels) ** 0.5)
    npx = float(trial.shape[0] * trial.shape[1])
    bpp = len(encoder(trial)) / npx
    if array.ndim == 3:  # the palette fallback is usually ~3x smaller than RGBA
        bpp = min(bpp, len(encode_png(trial, palette=True)) / npx)
    fit_pixels = max_bytes / max(bpp, 1e-6)
    if fit_pixels >= pixels:
        return array
    return _resize(array, 0.97 * (fit_pixels / pixels) ** 0.5)


def fit_jpeg(array: np.ndarray, max_bytes: int, quality: int = 85,
             min_side: int = 16) -> tuple[bytes, tuple[int, int]]:
    """Encode as JPEG, lowering quality to 60 then shrinking until it fits ``max_bytes``."""
    if max_bytes <= 0:
        raise ValidationError(f"max_bytes must be positive, got {max_bytes}")
    current = _presize(array, max_bytes, lambda a: encode_jpeg(a, quality=quality))
    while True:
        for q in (quality, 60):
            data = encode_jpeg(current, quality=q)
            if len(data) <= max_bytes:
                return data, (current.shape[0], current.shape[1])
        if min(current.shape[0], current.shape[1]) <= min_side:
            raise ValidationError(
                f"cannot fit a JPEG into {max_bytes} bytes; raise the byte budget"
            )
        scale = min(0.9, 0.95 * (max_bytes / len(data)) ** 0.5)
        current = _resize(current, scale)


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for embedding bytes in HTML without any request."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
