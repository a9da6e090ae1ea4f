"""The camera model shared by footprints, the quick mosaic and the synthetic flight.

A photo is a pinhole camera at a known height above a flat ground plane, so a
pixel maps to the ground and back exactly; the synthetic flight renders its
photos with this same model, which is why the quick mosaic can invert them.

Frames: ground coordinates are metres in a projected CRS (east, north); the
camera sits at ``(east, north, height)`` with the ground at ``z = 0``. Camera
axes are x right, y down (image rows), z along the optical axis.

Attitude follows DJI: yaw clockwise from north, pitch up-positive (-90 looks
straight down, with the top of the image towards ``yaw``), roll about the
optical axis after pitching; at nadir a roll of r turns the image like a yaw of
r (DJI maker notes of old Inspire photos show yaw 103 with roll 168.8 for a
heading of -88).

Intrinsics come from, in order: the EXIF focal-plane resolution (exact sensor
size), else the 35 mm equivalent focal length by the diagonal definition (for
16:9 frames cropped from a 4:3 sensor the 4:3 diagonal is used, as DJI quotes
the equivalent for the full sensor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from terranb.dataset.exif import PhotoMeta

__all__ = [
    "FULL_FRAME_DIAGONAL_MM",
    "Camera",
    "Intrinsics",
    "NoGeometryError",
    "camera_for",
    "intrinsics_for",
    "pil_perspective_coeffs",
    "rotation_matrix",
    "true_north_bearing",
    "utm_epsg_for",
]

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)  # 43.27 mm


class NoGeometryError(ValueError):
    """A photo lacks what its ground geometry needs (position, height or focal length)."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of the full-size image (pixel centres at integers)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    source: str  # "focal_plane", "35mm" or "given"

    def scaled(self, sx: float, sy: float | None = None) -> Intrinsics:
        """Intrinsics of the same camera resampled by ``sx`` (new = old * s)."""
        sy = sx if sy is None else sy
        return Intrinsics(
            width=round(self.width * sx), height=round(self.height * sy),
            fx=self.fx * sx, fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5, source=self.source)


def intrinsics_for(meta: PhotoMeta) -> Intrinsics:
    """Pinhole intrinsics of a photo from its EXIF; raises :class:`NoGeometryError`."""
    w, h = meta.width, meta.height
    if not w or not h:
        raise NoGeometryError(f"{meta.name}: image size unknown")
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    if meta.focal_length_mm and meta.sensor_width_mm and meta.sensor_height_mm:
        ref_w = meta.exif_width or w
        ref_h = meta.exif_height or h
        fx = meta.focal_length_mm / meta.sensor_width_mm * ref_w * (w / ref_w)
        fy = meta.focal_length_mm / meta.sensor_height_mm * ref_h * (h / ref_h)
        return Intrinsics(w, h, fx, fy, cx, cy, "focal_plane")
    if meta.focal_length_35mm:
        long_side, short_side = max(w, h), min(w, h)
        # a 16:9 frame is a crop of a 4:3 sensor: use the sensor's diagonal
        diag = long_side * 1.25 if long_side / short_side > 1.6 else math.hypot(w, h)
        f = meta.focal_length_35mm / FULL_FRAME_DIAGONAL_MM * diag
        return Intrinsics(w, h, f, f, cx, cy, "35mm")
    raise NoGeometryError(
        f"{meta.name}: neither a 35 mm equivalent focal length nor the sensor size is in EXIF")


def rotation_matrix(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """World-from-camera rotation (columns are the camera x, y, z axes in east-north-up)."""
    import numpy as np

    psi, th, ph = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    fwd = np.array([math.sin(psi), math.cos(psi), 0.0])
    right = np.array([math.cos(psi), -math.sin(psi), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    fwd_p = math.cos(th) * fwd + math.sin(th) * up
    up_p = -math.sin(th) * fwd + math.cos(th) * up
    right_pp = math.cos(ph) * right - math.sin(ph) * up_p
    up_pp = math.sin(ph) * right + math.cos(ph) * up_p
    return np.stack([right_pp, -up_pp, fwd_p], axis=1)


@dataclass(frozen=True)
class Camera:
    """A posed pinhole camera over flat ground.

    Attributes:
        east, north: camera position in ``epsg`` (metres).
        height: height above the ground plane (metres, > 0).
        yaw, pitch, roll: attitude in degrees (DJI convention, see module doc).
        intr: intrinsics.
        epsg: the projected CRS of ``east``/``north``.
    """

    east: float
    north: float
    height: float
    yaw: float
    pitch: float
    roll: float
    intr: Intrinsics
    epsg: int

    @property
    def R(self) -> np.ndarray:
        """World-from-camera rotation."""
        return rotation_matrix(self.yaw, self.pitch, self.roll)

    @property
    def nadir_gsd(self) -> float:
        """Ground sample distance (m/pixel) straight below a level camera."""
        return self.height / self.intr.fx

    def ground_homography(self, intr: Intrinsics | None = None) -> np.ndarray:
        """3x3 matrix taking pixel (u, v, 1) (pixel-centre convention) to ground (e, n, 1).

        Homogeneous: divide by the third component. Valid for pixels whose ray
        points below the horizon (third component > 0).
        """
        import numpy as np

        k = intr or self.intr
        kinv = np.array([[1 / k.fx, 0, -k.cx / k.fx], [0, 1 / k.fy, -k.cy / k.fy], [0, 0, 1]])
        m = self.R @ kinv
        return np.stack([self.height * m[0] - self.east * m[2],
                         self.height * m[1] - self.north * m[2],
                         -m[2]])

    def rays(self, u: Any, v: Any, intr: Intrinsics | None = None) -> np.ndarray:
        """Unit-free ray directions (..., 3) in east-north-up for pixel coordinates."""
        import numpy as np

        k = intr or self.intr
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        d_cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], axis=-1)
        return d_cam @ self.R.T

    def pixel_to_ground(self, u: Any, v: Any, *, min_depression_deg: float = 0.5,
                        intr: Intrinsics | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground (east, north) of pixels and a mask of rays that reach the ground.

        Rays at less than ``min_depression_deg`` below the horizon are clamped to
        that depression (so oblique footprints stay finite) and flagged ``False``.
        """
        import numpy as np

        d = self.rays(u, v, intr)
        horiz = np.hypot(d[..., 0], d[..., 1])
        min_dz = -np.tan(np.radians(min_depression_deg)) * horiz
        ok = d[..., 2] < min_dz
        dz = np.where(ok, d[..., 2], np.minimum(min_dz, -1e-9))
        t = self.height / -dz
        return self.east + t * d[..., 0], self.north + t * d[..., 1], ok

    def ground_to_pixel(self, east: Any, north: Any, *, intr: Intrinsics | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel (u, v) of ground points and a mask of points in front of the camera."""
        import numpy as np

        k = intr or self.intr
        e = np.asarray(east, dtype=np.float64) - self.east
        n = np.asarray(north, dtype=np.float64) - self.north
        rt = self.R.T  # camera-from-world
        xc = rt[0, 0] * e + rt[0, 1] * n - rt[0, 2] * self.height
        yc = rt[1, 0] * e + rt[1, 1] * n - rt[1, 2] * self.height
        zc = rt[2, 0] * e + rt[2, 1] * n - rt[2, 2] * self.height
        front = zc > 1e-6
        zs = np.where(front, zc, 1.0)
        return k.fx * xc / zs + k.cx, k.fy * yc / zs + k.cy, front


def utm_epsg_for(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing a point (Norway/Svalbard exceptions ignored)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


_TRANSFORMERS: dict[tuple[int, int], Any] = {}


def transformer(src_epsg: int, dst_epsg: int) -> Any:
    """A cached always-xy pyproj transformer."""
    key = (src_epsg, dst_epsg)
    if key not in _TRANSFORMERS:
        from terranb.errors import require

        pyproj = require("pyproj", "geo")
        _TRANSFORMERS[key] = pyproj.Transformer.from_crs(src_epsg, dst_epsg, always_xy=True)
    return _TRANSFORMERS[key]


def true_north_bearing(lon: float, lat: float, epsg: int) -> float:
    """Grid bearing (degrees clockwise from grid north) of true north at a point."""
    t = transformer(4326, epsg)
    e0, n0 = t.transform(lon, lat)
    e1, n1 = t.transform(lon, min(lat + 1e-4, 89.9999))
    return math.degrees(math.atan2(e1 - e0, n1 - n0))


def camera_for(meta: PhotoMeta, *, epsg: int | None = None,
               ground_elevation: float | None = None,
               default_pitch: float = -90.0) -> Camera:
    """The posed camera of a photo.

    Args:
        meta: the photo's metadata.
        epsg: projected CRS for the position; default the photo's UTM zone.
        ground_elevation: ground height in the photo's altitude reference; used
            when the photo has no relative altitude (``height = absolute - ground``).
        default_pitch: pitch assumed when the photo records no attitude.

    Raises:
        NoGeometryError: position, height or focal length missing.
    """
    if meta.latitude is None or meta.longitude is None:
        raise NoGeometryError(f"{meta.name}: no GPS position")
    height: float | None = None
    if meta.relative_altitude is not None:
        height = meta.relative_altitude
    elif ground_elevation is not None and meta.absolute_altitude is not None:
        height = meta.absolute_altitude - ground_elevation
    if height is None:
        raise NoGeometryError(
            f"{meta.name}: height above ground unknown (no RelativeAltitude); "
            "pass the ground height above sea level as ground_elevation= "
            "(CLI: --ground-elevation)")
    if height <= 0.5:
        raise NoGeometryError(f"{meta.name}: height above ground is {height:.1f} m")
    intr = intrinsics_for(meta)
    if epsg is None:
        epsg = utm_epsg_for(meta.longitude, meta.latitude)
    east, north = transformer(4326, epsg).transform(meta.longitude, meta.latitude)
    yaw = meta.gimbal_yaw if meta.gimbal_yaw is not None else (meta.flight_yaw or 0.0)
    # DJI yaw is from true north; the map grid's north differs by the meridian convergence.
    yaw += true_north_bearing(meta.longitude, meta.latitude, epsg)
    pitch = meta.gimbal_pitch if meta.gimbal_pitch is not None else default_pitch
    roll = meta.gimbal_roll if meta.gimbal_roll is not None else 0.0
    return Camera(float(east), float(north), float(height), float(yaw), float(pitch),
                  float(roll), intr, int(epsg))


def pil_perspective_coeffs(out_to_in: np.ndarray) -> tuple[float, ...]:
    """Pillow ``Image.PERSPECTIVE`` coefficients for a pixel-centre homography.

    ``out_to_in`` maps output pixel centres to input pixel centres; Pillow maps
    pixel corners (centre + 0.5), so the matrix is conjugated by that shift.
    """
    import numpy as np

    t_plus = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    t_minus = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1.0]])
    h = t_plus @ out_to_in @ t_minus
    h = h / h[2, 2]
    return tuple(float(v) for v in h.ravel()[:8])
