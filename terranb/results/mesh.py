"""Textured meshes (OBJ + MTL + textures), georeferenced by DJI Terra's metadata.xml.

DJI Terra writes ``models/pc/0/terra_obj/BlockR/BlockR.obj`` (+ ``.mtl`` and JPEG
textures) with vertex coordinates relative to an origin, and
``terra_obj/metadata.xml`` naming the CRS and that origin::

    <ModelMetadata version="1">
      <SRS>EPSG:32650</SRS>          <!-- or WKT, or ENU:lat,lon for a local frame -->
      <SRSOrigin>500000,2500000,0</SRSOrigin>
    </ModelMetadata>

World coordinates are OBJ coordinates plus ``SRSOrigin``. :class:`Mesh` opens the
files lazily (the geometry is parsed on first use), gives statistics, and
:meth:`Mesh.decimate` reduces the mesh to a face budget for a browser viewer
through the one decimation path of :mod:`terranb.results.decimate` (seam-keeping
quadric simplification with the ``mesh`` extra, vertex clustering otherwise).
"""

from __future__ import annotations

import os
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.errors import ResultFormatError, require
from terranb.results.crs import bounds_to_wgs84, crs_from_text, crs_to_json
from terranb.results.decimate import DecimatedMesh, MeshPart, decimate_parts
from terranb.results.findings import Finding, read_sidecar
from terranb.results.finite import guarded_parse, without_nonfinite

if TYPE_CHECKING:
    from pyproj import CRS

__all__ = ["DEFAULT_MAX_FACES", "DecimatedMesh", "Mesh", "MeshPart", "TerraMetadata",
           "read_terra_metadata"]

#: Default face budget of :meth:`Mesh.decimate`.
DEFAULT_MAX_FACES = 100_000


@dataclass(frozen=True)
class TerraMetadata:
    """DJI Terra / ContextCapture ``metadata.xml``.

    Attributes:
        path: the file.
        srs: the ``<SRS>`` text as written.
        origin: ``<SRSOrigin>`` as (x, y, z); (0, 0, 0) when absent.
        crs: the CRS of world coordinates; for ``ENU:lat,lon`` an azimuthal
            equidistant CRS centred there (a close stand-in for a local ENU frame).
        enu_origin: (lat, lon) for ``ENU:`` frames, else ``None``.
    """

    path: Path | None
    srs: str | None
    origin: tuple[float, float, float]
    crs: CRS | None
    enu_origin: tuple[float, float] | None = None


def read_terra_metadata(path: str | os.PathLike[str]) -> TerraMetadata:
    """Parse a DJI Terra ``metadata.xml``.

    Raises:
        ResultFormatError: the file is not XML.
    """
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ResultFormatError(f"cannot read {p}: {exc}") from exc
    srs_el = root.find(".//SRS")
    origin_el = root.find(".//SRSOrigin")
    srs = srs_el.text.strip() if srs_el is not None and srs_el.text else None
    origin = (0.0, 0.0, 0.0)
    if origin_el is not None and origin_el.text:
        nums = [float(v) for v in re.split(r"[,\s]+", origin_el.text.strip()) if v]
        if len(nums) not in (2, 3):
            raise ResultFormatError(f"{p}: SRSOrigin {origin_el.text!r} is not 'x,y[,z]'")
        origin = (nums[0], nums[1], nums[2] if len(nums) == 3 else 0.0)
    crs = None
    enu = None
    if srs and srs.upper().startswith("ENU:"):
        try:
            lat, lon = (float(v) for v in srs[4:].split(",")[:2])
        except ValueError as exc:
            raise ResultFormatError(f"{p}: SRS {srs!r} is not 'ENU:lat,lon'") from exc
        enu = (lat, lon)
        crs = crs_from_text(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +type=crs")
    elif srs:
        crs = crs_from_text(srs)
    return TerraMetadata(path=p, srs=srs, origin=origin, crs=crs, enu_origin=enu)


def _find_metadata(obj: Path) -> Path | None:
    # terra_obj/metadata.xml sits one or two levels above terra_obj/BlockR/BlockR.obj.
    for folder in (obj.parent, obj.parent.parent, obj.parent.parent.parent):
        cand = folder / "metadata.xml"
        if cand.is_file():
            return cand
    return None


def _mtl_textures(obj: Path, findings: list[Finding]) -> dict[str, Path | None]:
    """Material name -> diffuse texture, from the OBJ's ``mtllib`` files (names may hold spaces)."""
    libs: list[str] = []
    with obj.open("r", encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh):
            if line.startswith("mtllib"):
                libs.append(line[6:].strip())
            if i > 5000 and libs:
                break  # mtllib sits in the header; don't scan a 1 GB file for more
            if i > 200_000:
                break
    out: dict[str, Path | None] = {}
    for lib in libs:
        mtl = (obj.parent / lib)
        if not mtl.is_file():
            findings.append(Finding.make("warning", "mesh.missing_mtl",
                                         f"material library {lib!r} named by the OBJ is missing",
                                         mtl))
            continue
        current = None
        for raw in mtl.read_text(encoding="utf-8", errors="replace").splitlines():
            line = raw.strip()
            if line.startswith("newmtl"):
                current = line[6:].strip()
                out.setdefault(current, None)
            elif line.lower().startswith("map_kd") and current is not None:
                # The file name is the rest of the line (spaces allowed); skip any -options.
                rest = line[6:].strip()
                tokens = rest.split(" ")
                while tokens and tokens[0].startswith("-") and len(tokens) > 2:
                    tokens = tokens[2:]
                name = " ".join(tokens).strip()
                tex = (mtl.parent / name)
                out[current] = tex
                if not tex.is_file():
                    findings.append(Finding.make(
                        "warning", "mesh.missing_texture",
                        f"texture {name!r} of material {current!r} is missing; the mesh will "
                        "show untextured", tex))
    return out


@dataclass
class Mesh:
    """An OBJ mesh with its materials, textures and DJI Terra georeferencing.

    Geometry is parsed on first use of a statistic or of :meth:`decimate`.

    Attributes:
        path: the ``.obj`` file.
        metadata: the DJI Terra metadata.xml found beside or above it, if any.
        textures: material name -> texture path (``None`` for untextured materials).
        findings: problems found.
    """

    path: Path
    metadata: TerraMetadata | None
    textures: dict[str, Path | None]
    findings: list[Finding] = field(default_factory=list)
    _parts: list[MeshPart] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *,
             metadata: str | os.PathLike[str] | TerraMetadata | None = None) -> Mesh:
        """Open an OBJ and find its MTL, textures and metadata.xml (geometry is read later).

        Args:
            path: the ``.obj`` file.
            metadata: a metadata.xml path or parsed :class:`TerraMetadata`; by default
                ``metadata.xml`` is looked for in the OBJ's folder and the two above.

        Raises:
            ResultFormatError: the file is missing.
        """
        p = Path(path)
        if not p.is_file():
            raise ResultFormatError(f"mesh {p} does not exist; check the path")
        findings: list[Finding] = []
        meta: TerraMetadata | None
        if isinstance(metadata, TerraMetadata):
            meta = metadata
        else:
            mp = Path(metadata) if metadata is not None else _find_metadata(p)
            meta = read_sidecar(mp, read_terra_metadata, "mesh.bad_metadata", findings)
        if meta is None:
            findings.append(Finding.make(
                "info", "mesh.no_metadata",
                "no metadata.xml found: the mesh is in local coordinates with no CRS", p))
        elif meta.crs is None:
            findings.append(Finding.make(
                "warning", "mesh.no_crs",
                f"metadata.xml SRS {meta.srs!r} is not a CRS pyproj understands", meta.path))
        elif meta.enu_origin is not None:
            findings.append(Finding.make(
                "info", "mesh.enu_frame",
                "the mesh is in a local ENU frame; WGS 84 bounds use an azimuthal equidistant "
                "approximation centred on the ENU origin", meta.path))
        textures = _mtl_textures(p, findings)
        return cls(path=p, metadata=meta, textures=textures, findings=findings)

    # ------------------------------------------------------------------ loading
    @property
    def parts(self) -> list[MeshPart]:
        """The geometry, one :class:`MeshPart` per material (parsed on first access)."""
        if self._parts is None:
            self._parts = without_nonfinite(self._load(), self.path, self.findings)
        return self._parts

    def _load(self) -> list[MeshPart]:
        np_ = require("numpy", "geo")
        fast = guarded_parse(_parse_obj_fast, self.path, np_)
        if fast is not None:
            parts = []
            for material, vertices, faces, uv in fast:
                tex = self.textures.get(material) if material else None
                if tex is None and material is None and len(self.textures) == 1:
                    tex = next(iter(self.textures.values()))
                parts.append(MeshPart(vertices=vertices, faces=faces, uv=uv,
                                      texture_path=tex if tex is not None and tex.is_file()
                                      else None,
                                      material=material))
            if not parts:
                raise ResultFormatError(f"OBJ {self.path} has no faces")
            return parts
        return self._load_trimesh(np_)

    def _load_trimesh(self, np_: Any) -> list[MeshPart]:
        """General OBJ parsing through trimesh (polygons, relative indexes, odd layouts)."""
        trimesh = require("trimesh", "geo")
        try:
            loaded = trimesh.load(str(self.path), file_type="obj", process=False,
                                  maintain_order=True)
        except Exception as exc:
            raise ResultFormatError(f"cannot parse OBJ {self.path}: {exc}") from exc
        geoms = list(loaded.geometry.values()) if hasattr(loaded, "geometry") else [loaded]
        parts: list[MeshPart] = []
        for g in geoms:
            if not hasattr(g, "faces") or len(g.faces) == 0:
                continue
            visual = getattr(g, "visual", None)
            uv = getattr(visual, "uv", None) if visual is not None and visual.kind == "texture" \
                else None
            material = getattr(getattr(visual, "material", None), "name", None)
            tex = self.textures.get(material) if material else None
            if tex is None and len(self.textures) == 1:
                tex = next(iter(self.textures.values()))
            if tex is not None and not tex.is_file():
                tex = None
            parts.append(MeshPart(
                vertices=np_.asarray(g.vertices, dtype=np_.float64),
                faces=np_.asarray(g.faces, dtype=np_.int64),
                uv=np_.asarray(uv, dtype=np_.float64) if uv is not None and len(uv) else None,
                texture_path=tex, material=material))
        if not parts:
            raise ResultFormatError(f"OBJ {self.path} has no faces")
        return parts

    # -------------------------------------------------------------- statistics
    @property
    def origin(self) -> tuple[float, float, float]:
        """SRSOrigin (added to OBJ coordinates for world coordinates)."""
        return self.metadata.origin if self.metadata else (0.0, 0.0, 0.0)

    @property
    def crs(self) -> CRS | None:
        """CRS of world coordinates, from metadata.xml."""
        return self.metadata.crs if self.metadata else None

    @property
    def vertex_count(self) -> int:
        """Vertices (after splitting at UV seams, as the viewer will need them)."""
        return sum(len(p.vertices) for p in self.parts)

    @property
    def face_count(self) -> int:
        """Triangles (polygons are triangulated on load)."""
        return sum(len(p.faces) for p in self.parts)

    @property
    def bounds_local(self) -> tuple[float, float, float, float, float, float]:
        """(minx, miny, minz, maxx, maxy, maxz) in OBJ coordinates."""
        np_ = require("numpy", "geo")
        v = np_.concatenate([p.vertices for p in self.parts])
        lo, hi = v.min(axis=0), v.max(axis=0)
        return (float(lo[0]), float(lo[1]), float(lo[2]), float(hi[0]), float(hi[1]), float(hi[2]))

    @property
    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """World bounds: :attr:`bounds_local` shifted by the origin."""
        b = self.bounds_local
        o = self.origin
        return (b[0] + o[0], b[1] + o[1], b[2] + o[2], b[3] + o[0], b[4] + o[1], b[5] + o[2])

    @property
    def bounds_wgs84(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) in degrees, or ``None`` without a CRS."""
        b = self.bounds
        return bounds_to_wgs84(self.crs, (b[0], b[1], b[3], b[4]))

    @property
    def area(self) -> float:
        """Total surface area in squared CRS (OBJ) units."""
        np_ = require("numpy", "geo")
        total = 0.0
        for p in self.parts:
            tri = p.vertices[p.faces]
            total += float(0.5 * np_.linalg.norm(
                np_.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())
        return total

    @property
    def textured(self) -> bool:
        """True when at least one part has UVs and an existing texture image."""
        return any(p.uv is not None and p.texture_path is not None for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready statistics (parses the geometry)."""
        meta = self.metadata
        return {
            "kind": "mesh", "path": str(self.path), "vertex_count": self.vertex_count,
            "face_count": self.face_count, "bounds_local": list(self.bounds_local),
            "bounds": list(self.bounds),
            "bounds_wgs84": list(self.bounds_wgs84) if self.bounds_wgs84 else None,
            "area": self.area, "textured": self.textured,
            "textures": {k: str(v) if v else None for k, v in self.textures.items()},
            "metadata": None if meta is None else {
                "path": str(meta.path), "srs": meta.srs, "origin": list(meta.origin),
                "enu_origin": list(meta.enu_origin) if meta.enu_origin else None},
            "crs": crs_to_json(self.crs),
            "findings": [f.to_dict() for f in self.findings],
        }

    # -------------------------------------------------------------- decimation
    def decimate(self, max_faces: int = DEFAULT_MAX_FACES, *,
                 method: str = "auto") -> DecimatedMesh:
        """Reduce the mesh to at most ``max_faces`` triangles, keeping textures usable.

        One decimation path (:func:`terranb.results.decimate.decimate_parts`):
        seam-keeping quadric simplification when the ``mesh`` extra
        (fast-simplification) is installed, else vertex clustering. Parts
        (materials) never merge.

        Args:
            max_faces: face budget (the result has at most this many faces).
            method: ``"auto"``, ``"quadric"`` or ``"cluster"``.

        Returns:
            A :class:`DecimatedMesh` in local float32 coordinates with ``origin`` and
            ``crs``; the mesh unchanged (as float32) when it already fits.
        """
        return decimate_parts(self.parts, max_faces, method=method, origin=self.origin,
                              crs=self.crs)


def _parse_obj_fast(path: Path, np_: Any) -> list[tuple[str | None, Any, Any, Any]] | None:
    """Parse a triangle-only OBJ with vectorised numpy passes (DJI Terra's layout).

    trimesh's general parser needs tens of seconds for a million faces because it
    handles every line in Python. Here lines are classified by their first two bytes
    over the whole buffer, each class is gathered into one byte string and parsed by
    ``numpy.fromstring`` in C. Returns ``None`` (the caller falls back to trimesh) for
    anything it does not handle: polygons, relative (negative) indexes, ``v//vn``
    corners, mixed corner formats.

    Each returned part is (material, vertices, faces, uv): one vertex per distinct
    (position, texture coordinate) pair the part uses, so UV seams are kept.
    """
    size = path.stat().st_size
    if size == 0:
        return []
    # One writable copy of the file; every later step works on views or small arrays.
    data = bytearray(size)
    with path.open("rb") as fh:
        got = fh.readinto(data)
    work = np_.frombuffer(data, dtype=np_.uint8)[:got]
    nl = np_.flatnonzero(work == 10)
    starts = np_.concatenate([[0], nl + 1])
    starts = starts[starts < got]
    lengths = np_.diff(np_.append(starts, got))
    del nl
    c0 = work[starts]
    c1 = work[np_.minimum(starts + 1, got - 1)]
    blank = (c1 == 32) | (c1 == 9)
    is_v = (c0 == ord("v")) & blank
    is_vt = (c0 == ord("v")) & (c1 == ord("t"))
    is_f = (c0 == ord("f")) & blank
    if not is_f.any() or not is_v.any():
        return [] if not is_f.any() else None
    mat_lines = np_.flatnonzero((c0 == ord("u")) & (c1 == ord("s")))
    mat_text = [bytes(work[starts[li]:starts[li] + lengths[li]]).decode("utf-8", "replace")
                for li in mat_lines]
    work[starts[is_v | is_vt | is_f]] = 32  # blank the record tags so only numbers remain
    work[starts[is_vt] + 1] = 32

    def gather(mask: Any, work: Any = work, lengths: Any = lengths) -> bytes:
        return work[np_.repeat(mask, lengths)].tobytes()  # type: ignore[no-any-return]

    nv, nvt, nf = int(is_v.sum()), int(is_vt.sum()), int(is_f.sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        vals = np_.fromstring(gather(is_v), dtype=np_.float64, sep=" ")
        if vals.size not in (3 * nv, 4 * nv, 6 * nv, 7 * nv):
            return None
        verts = np_.ascontiguousarray(vals.reshape(nv, -1)[:, :3])
        del vals
        uvs = None
        if nvt:
            tv = np_.fromstring(gather(is_vt), dtype=np_.float64, sep=" ")
            if tv.size not in (2 * nvt, 3 * nvt):
                return None
            uvs = np_.ascontiguousarray(tv.reshape(nvt, -1)[:, :2])
            del tv
        ftext = gather(is_f)
        f_lines = np_.flatnonzero(is_f)
        del gather, work, data, starts, lengths
        if b"-" in ftext or b"//" in ftext:
            return None  # relative indexes or v//vn: leave to trimesh
        nslash = ftext.count(b"/")
        ftext = ftext.replace(b"/", b" ")
        ints = np_.fromstring(ftext, dtype=np_.int64, sep=" ")
        del ftext
    per = nslash // (3 * nf) + 1
    if ints.size != 3 * nf * per or nslash != 3 * nf * (per - 1):
        return None  # polygons or corners mixing v, v/vt and v/vt/vn
    idx = ints.reshape(nf, 3, per)
    fv = idx[:, :, 0] - 1
    fvt = idx[:, :, 1] - 1 if per >= 2 and uvs is not None else None
    del idx, ints
    if fv.min() < 0 or fv.max() >= nv:
        return None
    if fvt is not None and uvs is not None and (fvt.min() < 0 or fvt.max() >= nvt):
        fvt = None
    # Materials: each usemtl applies to the faces after it.
    mats: list[tuple[str | None, int]] = [(None, 0)]
    for li, raw in zip(mat_lines, mat_text, strict=True):
        text = raw.strip()
        if text.startswith("usemtl"):
            mats.append((text[6:].strip(), int(np_.searchsorted(f_lines, li))))
    by_mat: dict[str | None, list[tuple[int, int]]] = {}
    for i, (name, a) in enumerate(mats):
        b = mats[i + 1][1] if i + 1 < len(mats) else nf
        if b > a:
            by_mat.setdefault(name, []).append((a, b))
    out: list[tuple[str | None, Any, Any, Any]] = []
    for name, ranges in by_mat.items():
        sel = np_.concatenate([np_.arange(a, b) for a, b in ranges])
        pv = fv[sel]
        if fvt is not None and uvs is not None:
            key = pv * nvt + fvt[sel]
            uniq, inv = np_.unique(key, return_inverse=True)
            out.append((name, verts[uniq // nvt], inv.reshape(-1, 3), uvs[uniq % nvt]))
        else:
            uniq, inv = np_.unique(pv, return_inverse=True)
            out.append((name, verts[uniq], inv.reshape(-1, 3), None))
    return out
