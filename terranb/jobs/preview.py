"""Preview a job's results from the bucket, without downloading them.

:func:`preview_files` takes the result files (relative names, sizes, presigned
URLs -- what TerraAPI's ``GET /v2/files?need_url`` lists) and previews, by
counted and capped ``Range`` reads (:mod:`terranb.transfer.rangeio`):

* the orthomosaic (``result.tif``, a COG) at the overview that fits ``max_pixels``;
* a COPC point cloud: hierarchy, then the nodes of the coarse levels only;
* a 3D Tiles tileset: ``tileset.json`` and the chosen level's tiles only.

Formats that cannot be read by range (OBJ meshes, plain LAS/LAZ) are listed with
what a download costs. Everything shares one :class:`ByteBudget`: ``max_bytes``
is a hard cap (default 256 MB), and :attr:`RemotePreview.bytes_fetched` is the
honest count of body bytes received.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from terranb.errors import ResultFormatError
from terranb.transfer.download import RemoteFile
from terranb.transfer.rangeio import ByteBudget, RangeFile, UrlOpener, url_label

__all__ = ["DEFAULT_MAX_BYTES", "PreviewItem", "RemotePreview", "preview_files", "preview_url"]

#: Default cap on the bytes one preview may fetch.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

_ORTHO_HINTS = ("result", "ortho", "dom", "mosaic")


@dataclass
class PreviewItem:
    """One result file and what the preview did with it.

    Attributes:
        name: relative path in the result tree.
        kind: ``ortho``, ``dsm``, ``pointcloud``, ``tileset``, ``mesh``, ``las`` or ``other``.
        size: bytes of the object (when known).
        status: ``previewed``, ``download-only`` (not range-readable), ``skipped`` or ``error``.
        message: what happened, for people.
        result: the preview object (``RemoteOrtho``, ``CopcPreview``, ``TilesetPreview``).
        bytes_fetched: bytes this item cost.
    """

    name: str
    kind: str
    size: int | None
    status: str
    message: str = ""
    result: Any = field(default=None, repr=False)
    bytes_fetched: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "kind": self.kind, "size": self.size, "status": self.status,
               "message": self.message, "bytes_fetched": self.bytes_fetched}
        if self.result is not None and hasattr(self.result, "to_dict"):
            out["preview"] = self.result.to_dict()
        return out


@dataclass
class RemotePreview:
    """Everything one no-download preview read."""

    items: list[PreviewItem]
    budget: ByteBudget

    @property
    def bytes_fetched(self) -> int:
        return self.budget.fetched

    @property
    def requests(self) -> int:
        return self.budget.requests

    @property
    def warnings(self) -> list[str]:
        return list(self.budget.warnings)

    def _first(self, kind: str) -> Any:
        return next((i.result for i in self.items if i.kind == kind and i.status == "previewed"),
                    None)

    @property
    def ortho(self) -> Any:
        return self._first("ortho") or self._first("dsm")

    @property
    def points(self) -> Any:
        return self._first("pointcloud")

    @property
    def tileset(self) -> Any:
        return self._first("tileset")

    def summary(self) -> str:
        """One line per file, then the byte total."""
        lines = []
        for i in self.items:
            size = f"{i.size:,} B" if i.size is not None else "size unknown"
            lines.append(f"{i.status:13} {i.kind:10} {i.name} ({size}; fetched "
                         f"{i.bytes_fetched:,} B){': ' + i.message if i.message else ''}")
        lines.append(f"total fetched: {self.bytes_fetched:,} bytes in {self.requests} requests"
                     + (f" (cap {self.budget.max_bytes:,})" if self.budget.max_bytes else ""))
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"bytes_fetched": self.bytes_fetched, "requests": self.requests,
                "max_bytes": self.budget.max_bytes, "warnings": self.warnings,
                "items": [i.to_dict() for i in self.items]}


def _kind(name: str) -> str:
    low = name.lower()
    base = posixpath.basename(low)
    if low.endswith((".tif", ".tiff")):
        return "dsm" if "dsm" in base or "dem" in base else "ortho"
    if low.endswith((".laz", ".las")):
        return "las"
    if base.endswith(".json") and "tileset" in base:
        return "tileset"
    if low.endswith(".obj"):
        return "mesh"
    return "other"


def _sibling(url: str, rel: str) -> str:
    """The URL of ``rel`` next to ``url`` (same query: fine for unsigned URLs only)."""
    parts = urlsplit(url)
    path = posixpath.normpath(posixpath.join(posixpath.dirname(parts.path), rel))
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def preview_files(files: Iterable[RemoteFile], *, max_pixels: int = 1_000_000,
                  max_points: int = 250_000, max_faces: int = 200_000,
                  max_bytes: int | None = DEFAULT_MAX_BYTES) -> RemotePreview:
    """Preview result files by range reads (see module doc); never raises for one bad file.

    Args:
        files: result files with presigned URLs.
        max_pixels, max_points, max_faces: preview budgets (ortho, cloud, tileset).
        max_bytes: cap on all bytes fetched (``None`` = no cap).
    """
    from terranb.results.remote_copc import is_copc_head, read_remote_copc
    from terranb.results.remote_ortho import read_remote_ortho
    from terranb.results.remote_tileset import read_remote_tileset

    budget = ByteBudget(max_bytes=max_bytes)
    files = [f for f in files if f.url]
    by_name = {f.name: f for f in files}
    items: list[PreviewItem] = []
    ortho_done = {"ortho": False, "dsm": False}
    tilesets = sorted((f for f in files if _kind(f.name) == "tileset"),
                      key=lambda f: (f.name.count("/"), f.name))
    root_tileset = tilesets[0] if tilesets else None
    tile_names = {f.name for f in files if f.name.lower().endswith((".b3dm", ".pnts"))}
    tile_names |= {f.name for f in tilesets[1:]}

    def run(item: PreviewItem, fn: Any) -> None:
        before = budget.fetched
        budget.error = None
        try:
            item.result = fn()
            item.status = "previewed"
        except ResultFormatError as exc:
            item.status, item.message = "error", str(exc)
        item.bytes_fetched = budget.fetched - before
        items.append(item)

    # Orthos first (best-named first), then clouds, then the tileset.
    def ortho_rank(f: RemoteFile) -> tuple[int, str]:
        base = posixpath.basename(f.name.lower())
        return (0 if any(h in base for h in _ORTHO_HINTS) else 1, f.name)

    for f in sorted(files, key=ortho_rank):
        kind = _kind(f.name)
        url = str(f.url)
        if f.name in tile_names:
            continue
        if kind in ortho_done:
            if ortho_done[kind]:
                items.append(PreviewItem(f.name, kind, f.size, "skipped",
                                         "another raster of this kind is previewed"))
                continue
            ortho_done[kind] = True
            opener = UrlOpener(url, budget, name=f.name)
            run(PreviewItem(f.name, kind, f.size, ""),
                lambda o=opener, n=f.name: read_remote_ortho(o, n, max_pixels=max_pixels,
                                                             errors=budget))
        elif kind == "las":
            item = PreviewItem(f.name, kind, f.size, "")

            def cloud(u: str = url, n: str = f.name, it: PreviewItem = item,
                      size: int | None = f.size) -> Any:
                src = RangeFile(u, budget=budget, name=n, readahead=4096)
                if not is_copc_head(src.read(1024)):
                    it.kind = "las"
                    cost = f"{size:,} bytes" if size else "the whole file"
                    raise _DownloadOnly(f"plain LAS/LAZ has no spatial index, so it cannot be "
                                        f"previewed by range; a download costs {cost}")
                it.kind = "pointcloud"
                src.seek(0)
                src.readahead = 256 * 1024
                return read_remote_copc(src, n, max_points=max_points)

            try:
                run(item, cloud)
            except _DownloadOnly as exc:
                item.status, item.message = "download-only", str(exc)
                item.bytes_fetched = budget.per_file.get(f.name, 0)
                items.append(item)
        elif kind == "mesh":
            folder = posixpath.dirname(f.name)
            cost = sum(g.size or 0 for g in files if posixpath.dirname(g.name) == folder)
            items.append(PreviewItem(f.name, kind, f.size, "download-only",
                                     "OBJ meshes cannot be read by range (text, no index); "
                                     f"a download of its folder costs {cost:,} bytes"))
        elif kind == "tileset" and f is root_tileset:
            root_dir = posixpath.dirname(f.name)

            def url_of(rel: str, base_url: str = url, root: str = root_dir) -> str:
                name = posixpath.normpath(posixpath.join(root, rel)) if root else rel
                g = by_name.get(name)
                if g is not None and g.url:
                    return str(g.url)
                if g is None and by_name:
                    raise ResultFormatError(f"{name}: a tile named by the tileset is missing "
                                            "from the results")
                return _sibling(base_url, rel)

            def fetch(rel: str) -> bytes:
                return RangeFile(url_of(rel), budget=budget, name=rel).fetch_all()

            def head(rel: str, n: int) -> bytes:
                return RangeFile(url_of(rel), budget=budget, name=rel, readahead=n).read(n)

            run(PreviewItem(f.name, kind, f.size, ""),
                lambda fe=fetch, he=head, n=f.name: read_remote_tileset(
                    fe, he, posixpath.basename(n), max_faces=max_faces, label=n))
    return RemotePreview(items=items, budget=budget)


class _DownloadOnly(Exception):
    pass


def preview_url(url: str, **kwargs: Any) -> RemotePreview:
    """Preview one URL (a COG, a COPC, a ``tileset.json`` whose tiles sit beside it)."""
    name = posixpath.basename(urlsplit(url).path) or url_label(url)
    files = [RemoteFile(name=name, url=url)]
    if _kind(name) == "tileset":
        # Tiles are resolved next to the tileset URL (public or same-signature URLs).
        return _preview_tileset_url(url, name, **kwargs)
    return preview_files(files, **kwargs)


def _preview_tileset_url(url: str, name: str, *, max_faces: int = 200_000,
                         max_bytes: int | None = DEFAULT_MAX_BYTES,
                         **_ignored: Any) -> RemotePreview:
    from terranb.results.remote_tileset import read_remote_tileset

    budget = ByteBudget(max_bytes=max_bytes)

    def fetch(rel: str) -> bytes:
        return RangeFile(_sibling(url, rel), budget=budget, name=rel).fetch_all()

    def head(rel: str, n: int) -> bytes:
        return RangeFile(_sibling(url, rel), budget=budget, name=rel, readahead=n).read(n)

    item = PreviewItem(name, "tileset", None, "")
    try:
        item.result = read_remote_tileset(fetch, head, name, max_faces=max_faces, label=name)
        item.status = "previewed"
    except ResultFormatError as exc:
        item.status, item.message = "error", str(exc)
    item.bytes_fetched = budget.fetched
    return RemotePreview(items=[item], budget=budget)
