"""A COPC point cloud previewed from its URL: the hierarchy, then the nodes of the chosen levels.

laspy's :class:`~laspy.CopcReader` reads any seekable file object; here it reads a
:class:`~terranb.results.rangeio.RangeFile`, so the LAS header, the COPC info VLR,
the hierarchy pages and the point chunks are counted, capped ``Range`` requests.
Levels are chosen from the hierarchy alone (each entry carries its node's point
count and byte size): the shallowest depth whose cumulative point count reaches
the preview size, so only the octree's coarse levels are fetched. The sample is
then a seeded uniform subset of those points.

A plain LAS/LAZ has no index: it cannot be previewed by range
(:func:`is_copc_url` tells a COPC apart with one small header read).
"""

from __future__ import annotations

from typing import Any

from terranb.errors import ResultFormatError, require
from terranb.results.crs import crs_from_text
from terranb.results.pointcloud import PointSample, _concat, _empty, _sample_from_record

__all__ = ["CopcPreview", "is_copc_head", "read_remote_copc"]

DEFAULT_MAX_POINTS = 250_000
_MAX_DEPTH = 24


class CopcPreview(PointSample):
    """A :class:`PointSample` with what was read: levels, nodes, bytes of the chosen nodes."""

    levels: int = 0
    nodes: int = 0
    node_bytes: int = 0
    size_bytes: int = 0
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "pointcloud", "path": self.path, "points": len(self),
                "source_count": self.source_count, "levels": self.levels, "nodes": self.nodes,
                "node_bytes": self.node_bytes, "size_bytes": self.size_bytes,
                "crs": None if self.crs is None else self.crs.to_string()}


def is_copc_head(head: bytes) -> bool:
    """True when ``head`` (the first ~600 bytes of a LAS file) holds COPC's ``copc``/1 info VLR
    as the first VLR."""
    if head[:4] != b"LASF" or len(head) < 96:
        return False
    header_size = int.from_bytes(head[94:96], "little")
    vlr = head[header_size:header_size + 54]
    return vlr[2:18].rstrip(b"\x00") == b"copc" and int.from_bytes(vlr[18:20], "little") == 1


def _nodes_by_level(reader: Any) -> dict[int, list[Any]]:
    """Every node with points, per level, from the hierarchy pages (no point data read)."""
    from laspy.copc import load_octree_for_query

    info = reader.copc_info
    size = int(getattr(reader.source, "size", 0) or 0)
    offset, length = int(info.hierarchy_root_offset), int(info.hierarchy_root_size)
    # laspy reads whatever bytes sit at the stated offset and parses whole 32-byte entries
    # only, so a page past the end of the file or cut short reads as an empty octree: a
    # "preview" of zero points. Check the page's own numbers first.
    if length <= 0 or length % 32 or (size and offset + length > size):
        raise ValueError(f"the root hierarchy page ({length} bytes at offset {offset}) "
                                f"is not a whole number of 32-byte entries inside the file "
                                f"({size} bytes)")
    nodes = load_octree_for_query(reader.source, info, reader.root_page,
                                  level_range=range(0, _MAX_DEPTH))
    out: dict[int, list[Any]] = {}
    listed = 0
    for node in nodes:
        if node.point_count > 0:
            out.setdefault(node.key.level, []).append(node)
            listed += int(node.point_count)
    # Every point of a COPC file sits in exactly one node, so the hierarchy must account
    # for the header's count; a garbled page lists fewer (or nonsense) nodes.
    expected = int(reader.header.point_count)
    if listed != expected:
        raise ValueError(f"its nodes hold {listed:,} points but the header "
                                f"announces {expected:,}")
    return out


def _evlr_crs(source: Any, header: Any) -> Any:
    """The CRS of a WKT *extended* VLR (copc-lib and PDAL put it there), read by range.

    laspy's ``CopcReader`` parses the VLRs only, so a COPC whose WKT sits in the EVLRs
    at the end of the file would lose its map placement. The EVLR headers (60 bytes
    each) and the one WKT record are a few hundred bytes.
    """
    start = int(getattr(header, "start_of_first_evlr", 0) or 0)
    count = int(getattr(header, "number_of_evlrs", 0) or 0)
    pos = start
    for _ in range(min(count, 64)) if start else ():
        source.seek(pos)
        head = source.read(60)
        if len(head) < 60:
            return None
        user = head[2:18].rstrip(b"\x00")
        record = int.from_bytes(head[18:20], "little")
        length = int.from_bytes(head[20:28], "little")
        if user == b"LASF_Projection" and record == 2112 and 0 < length < 1 << 20:
            wkt = source.read(length).rstrip(b"\x00").decode("utf-8", "replace")
            return crs_from_text(wkt)
        pos += 60 + length
    return None


def read_remote_copc(source: Any, label: str, *, max_points: int = DEFAULT_MAX_POINTS,
                     seed: int = 0, crs: Any = None) -> CopcPreview:
    """Preview a COPC file with at most ``max_points`` points, reading only what it needs.

    Args:
        source: a seekable binary file object (a
            :class:`terranb.transfer.rangeio.RangeFile` for a URL; it is not closed).
        label: the file's name for messages.
        max_points: preview size.
        seed: seed of the uniform subsample.
        crs: CRS to assume when the file names none.

    Raises:
        ResultFormatError: not a COPC file, a broken hierarchy page, or the byte
            layer's errors (no Range, cap, expired URL).
    """
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    np_ = require("numpy", "geo")
    laspy = require("laspy", "geo")
    try:
        reader = laspy.CopcReader(source, close_fd=False)
    except ResultFormatError:
        raise
    except Exception as exc:
        raise ResultFormatError(f"{label}: not a readable COPC file ({exc}); plain LAS/LAZ "
                                "cannot be previewed by range, download it instead") from exc
    try:
        try:
            levels = _nodes_by_level(reader)
        except ResultFormatError:
            raise
        except Exception as exc:
            raise ResultFormatError(f"{label}: the COPC hierarchy is broken ({exc}); the "
                                    "file cannot be previewed by range (download it to "
                                    "inspect it)") from exc
        chosen: list[Any] = []
        total = 0
        depth = -1
        for level in sorted(levels):
            if total >= max_points:
                break
            chosen.extend(levels[level])
            total += sum(n.point_count for n in levels[level])
            depth = level
        parsed = None
        try:
            parsed = reader.header.parse_crs() or _evlr_crs(source, reader.header)
        except ResultFormatError:
            raise
        except Exception:  # a bad CRS VLR only loses the map placement
            parsed = None
        if parsed is None and crs is not None:
            parsed = crs_from_text(str(crs)) if not hasattr(crs, "to_wkt") else crs
        if chosen:
            try:
                # The hierarchy pages are cached in root_page now: only point chunks are read.
                record = reader.query(level=range(0, depth + 1))
            except ResultFormatError:
                raise
            except Exception as exc:
                raise ResultFormatError(f"{label}: a COPC point chunk could not be decoded "
                                        f"({exc})") from exc
            arrays = _concat([_sample_from_record(record, np_)], np_)
        else:
            arrays = _concat([_empty(np_)], np_)
        m = arrays["xyz"].shape[0]
        if m > max_points:
            keep = np_.sort(np_.random.default_rng(seed).choice(m, size=max_points,
                                                                replace=False))
            arrays = {k: (v[keep] if v is not None else None) for k, v in arrays.items()}
        out = CopcPreview(arrays["xyz"], arrays["rgb"], arrays["classification"],
                          arrays["intensity"], parsed, int(reader.header.point_count))
        out.levels = depth + 1
        out.nodes = len(chosen)
        out.node_bytes = int(sum(n.byte_size for n in chosen))
        out.size_bytes = int(getattr(source, "size", 0) or 0)
        out.path = label
        return out
    finally:
        reader.source = None  # the caller owns the stream
