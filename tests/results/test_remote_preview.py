"""No-download previews: COG overviews, COPC levels and tileset levels read by counted ranges."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from terranb.errors import ResultFormatError
from terranb.jobs.preview import preview_files, preview_url
from terranb.transfer.download import RemoteFile
from terranb.transfer.rangeio import (
    ByteBudget,
    ExpiredUrlError,
    PreviewBudgetError,
    RangeFile,
    RangeIgnoredWarning,
    RangeNotSupportedError,
)

from ._rangeserver import serve
from ._tiles import write_tileset

rasterio = pytest.importorskip("rasterio")


def _cog(path: Path, size: int = 2048, overviews: bool = True) -> Path:
    from rasterio.transform import from_origin

    rng = np.random.default_rng(1)
    data = rng.integers(0, 255, (3, size, size), dtype=np.uint8)
    kw = {"driver": "COG", "overviews": "AUTO"} if overviews else {
        "driver": "GTiff", "tiled": True}
    with rasterio.open(path, "w", width=size, height=size, count=3, dtype="uint8",
                       crs="EPSG:32650", transform=from_origin(500000, 2500000, 0.05, 0.05),
                       compress="DEFLATE", **kw) as ds:
        ds.write(data)
    return path


def test_cog_preview_reads_one_overview_and_counts_bytes(tmp_path: Path) -> None:
    cog = _cog(tmp_path / "result.tif")
    with serve(tmp_path) as st:
        p = preview_url(f"{st.base}/result.tif?X-Amz-Signature=secret", max_pixels=300_000)
        item = p.items[0]
        assert item.status == "previewed", item.message
        o = item.result
        assert o.factor in o.overview_factors and o.rgba.shape[0] * o.rgba.shape[1] <= 300_000
        # The client's count is the server's count, and far below the file.
        assert p.bytes_fetched == st.served
        assert p.bytes_fetched < 0.1 * cog.stat().st_size
        assert "secret" not in p.summary()
        # Same pixels as a local read of that overview.
        with rasterio.open(cog, overview_level=o.overview_factors.index(o.factor)) as ds:
            ref = ds.read(1)
        assert np.array_equal(o.rgba[..., 0], ref)


def test_cog_without_overviews_is_refused_with_the_cost(tmp_path: Path) -> None:
    _cog(tmp_path / "plain.tif", size=1024, overviews=False)
    with serve(tmp_path) as st:
        p = preview_url(f"{st.base}/plain.tif", max_pixels=10_000)
    assert p.items[0].status == "error" and "no overviews" in p.items[0].message
    assert "bytes" in p.items[0].message


def test_no_range_server_warns_within_cap_and_refuses_above(tmp_path: Path) -> None:
    cog = _cog(tmp_path / "result.tif", size=1024)
    with serve(tmp_path, honour_range=False) as st:
        small = ByteBudget(max_bytes=1000)
        with pytest.raises(RangeNotSupportedError, match="ignored the HTTP Range"):
            RangeFile(f"{st.base}/result.tif", budget=small).read(10)
        assert small.fetched == 0  # the body was never read (the connection is closed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            p = preview_url(f"{st.base}/result.tif", max_pixels=300_000,
                            max_bytes=cog.stat().st_size * 2)
        assert p.items[0].status == "previewed"
        assert any(issubclass(w.category, RangeIgnoredWarning) for w in caught)
        assert p.warnings and "ignores HTTP Range" in p.warnings[0]


def test_max_bytes_is_a_hard_cap(tmp_path: Path) -> None:
    _cog(tmp_path / "result.tif")
    with serve(tmp_path) as st:
        p = preview_url(f"{st.base}/result.tif", max_pixels=4_000_000, max_bytes=50_000)
        assert p.items[0].status == "error" and "max_bytes=50,000" in p.items[0].message
        assert p.bytes_fetched <= 50_000 and st.served <= 50_000
        with pytest.raises(PreviewBudgetError):
            RangeFile(f"{st.base}/result.tif", budget=ByteBudget(max_bytes=10)).read(100)


def test_expired_url_is_named(tmp_path: Path) -> None:
    _cog(tmp_path / "result.tif", size=256)
    with serve(tmp_path, expired=True) as st:
        with pytest.raises(ExpiredUrlError, match="expired"):
            RangeFile(f"{st.base}/result.tif?X-Amz-Signature=zzz").read(10)
        p = preview_url(f"{st.base}/result.tif?X-Amz-Signature=zzz")
    assert p.items[0].status == "error" and "expired" in p.items[0].message
    assert "zzz" not in p.items[0].message


def test_copc_preview_reads_coarse_levels_only(real_data: Path) -> None:
    folder = real_data / "las" / "laspy"
    with serve(folder) as st:
        files = [RemoteFile("lidars/simple.copc.laz", 33684, None, f"{st.base}/simple.copc.laz"),
                 RemoteFile("lidars/simple.las", 36437, None, f"{st.base}/simple.las")]
        p = preview_files(files, max_points=200)
    by = {i.name: i for i in p.items}
    copc = by["lidars/simple.copc.laz"]
    assert copc.status == "previewed", copc.message
    pts = copc.result
    assert len(pts) == 200 and pts.source_count == 1065 and pts.crs is not None
    assert pts.levels >= 1 and pts.node_bytes < 33684
    las = by["lidars/simple.las"]
    assert las.status == "download-only" and "36,437 bytes" in las.message
    assert las.bytes_fetched <= 4096


def test_tileset_preview_fetches_one_level(tmp_path: Path) -> None:
    root = tmp_path / "terra_b3dms"
    write_tileset(root, levels=3, base_n=9)
    files = [RemoteFile(f"models/pc/0/terra_b3dms/{p.relative_to(root).as_posix()}",
                        p.stat().st_size) for p in root.rglob("*") if p.is_file()]
    with serve(root) as st:
        files = [RemoteFile(f.name, f.size, None,
                            f"{st.base}/{f.name.split('terra_b3dms/')[1]}?sig=1") for f in files]
        p = preview_files(files, max_faces=128 * 4 + 10)  # fits depth 1 (4 tiles of 128)
        t = p.tileset
        assert t is not None, p.summary()
        assert t.level == 1 and t.tiles_fetched == 4 and t.mesh.face_count == 4 * 128
        # Level 2 (16 tiles) was only sampled: one tile's header, never all its tiles.
        assert len({r for r in st.requests if "/L2_" in r}) == 1
        level1 = {r for r in st.requests if "/L1_" in r}
        assert len(level1) == 4
        assert p.bytes_fetched == st.served
    v = t.mesh.vertices
    # Local metres around the tileset: 200 m wide, heights within the grid's +-5 m.
    assert np.ptp(v[:, 0]) == pytest.approx(200, abs=1) and np.abs(v[:, 2]).max() < 10
    assert t.crs is not None and t.parts[0].uv is not None and t.parts[0].texture is not None


def test_tileset_with_missing_tile_and_bad_magic(tmp_path: Path) -> None:
    root = tmp_path / "ts"
    write_tileset(root, levels=2, base_n=5)
    (root / "tiles/L1_0_0.b3dm").unlink()
    bad = root / "tiles/L1_1_0.b3dm"
    bad.write_bytes(b"xxxx" + bad.read_bytes()[4:])
    with serve(root) as st:
        p = preview_url(f"{st.base}/tileset.json", max_faces=10_000)
    t = p.tileset
    assert t is not None and t.level == 1 and len(t.parts) == 2
    msgs = " ".join(f.message for f in t.findings)
    assert "HTTP 404" in msgs and "not a b3dm" in msgs


def test_non_ecef_transform_is_a_finding(tmp_path: Path) -> None:
    import json

    root = tmp_path / "ts"
    ts = write_tileset(root, levels=1, base_n=5)
    doc = json.loads(ts.read_text())
    doc["root"]["transform"] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1000, 0, 0, 1]
    ts.write_text(json.dumps(doc))
    with serve(root) as st:
        p = preview_url(f"{st.base}/tileset.json")
    assert p.tileset is not None
    assert any(f.code == "tileset.not_ecef" for f in p.tileset.findings)


def test_truncated_b3dm_is_named() -> None:
    from terranb.results.b3dm import b3dm_glb

    with pytest.raises(ResultFormatError, match="truncated"):
        b3dm_glb(b"b3dm" + b"\x01\x00\x00\x00" + (1000).to_bytes(4, "little") + b"\0" * 16,
                 "x.b3dm")


def test_cli_preview_url_writes_page(tmp_path: Path) -> None:
    from terranb.cli.main import main

    root = tmp_path / "ts"
    write_tileset(root, levels=2, base_n=5)
    out = tmp_path / "p.html"
    with serve(root) as st:
        assert main(["preview", f"{st.base}/tileset.json", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "Total fetched" in page and "3D" in page


def test_copc_crs_in_an_evlr_is_read_by_range(tmp_path: Path) -> None:
    """copc-lib (the emulator's writer) and PDAL put the WKT in an extended VLR, which
    laspy's CopcReader does not parse: the preview reads it by range itself."""
    laspy = pytest.importorskip("laspy")
    pytest.importorskip("copclib")
    from pyproj import CRS

    from terranb.emulator.outputs_copc import write_copc

    rng = np.random.default_rng(0)
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.offsets, header.scales = [576700.0, 5188100.0, 180.0], [0.01, 0.01, 0.01]
    header.add_crs(CRS.from_epsg(32615))
    las = laspy.LasData(header)
    n = 5000
    las.x = 576700 + rng.uniform(0, 50, n)
    las.y = 5188100 + rng.uniform(0, 50, n)
    las.z = 180 + rng.uniform(0, 5, n)
    las.write(tmp_path / "plain.las")
    write_copc(tmp_path / "plain.las", tmp_path / "cloud.copc.laz")
    with laspy.CopcReader.open(tmp_path / "cloud.copc.laz") as r:
        assert r.header.parse_crs() is None  # the case this test is about
    with serve(tmp_path) as st:
        p = preview_files([RemoteFile("cloud.copc.laz", None, None,
                                      f"{st.base}/cloud.copc.laz")], max_points=500)
    item = p.items[0]
    assert item.status == "previewed", item.message
    assert item.result.crs is not None and item.result.crs.to_epsg() == 32615


def _copc(tmp_path: Path, n: int = 20_000) -> Path:
    laspy = pytest.importorskip("laspy")
    pytest.importorskip("copclib")
    from terranb.emulator.outputs_copc import write_copc

    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([500000.0, 2500000.0, 0.0])
    las = laspy.LasData(header)
    rng = np.random.default_rng(0)
    las.x = 500000 + rng.uniform(0, 100, n)
    las.y = 2500000 + rng.uniform(0, 100, n)
    las.z = rng.uniform(0, 5, n)
    las.write(str(tmp_path / "src.las"))
    out = tmp_path / "good.copc.laz"
    write_copc(tmp_path / "src.las", out)
    return out


@pytest.mark.parametrize("damage", ["page past the end", "garbled page", "odd page size"])
def test_copc_with_broken_hierarchy_page_is_named(tmp_path: Path, damage: str) -> None:
    """laspy alone reads these as an empty octree: a silent zero-point 'preview'."""
    import struct

    import laspy

    good = _copc(tmp_path)
    with laspy.CopcReader.open(str(good)) as reader:
        offset = reader.copc_info.hierarchy_root_offset
        length = reader.copc_info.hierarchy_root_size
    data = bytearray(good.read_bytes())
    info = data.find(struct.pack("<QQ", offset, length), 0, 2000)
    assert info > 0
    if damage == "page past the end":
        data[info:info + 8] = struct.pack("<Q", len(data) + 1_000_000)
    elif damage == "garbled page":
        data[offset:offset + length] = b"\xff" * length
    else:
        data[info + 8:info + 16] = struct.pack("<Q", length - 1)
    (tmp_path / "bad.copc.laz").write_bytes(bytes(data))
    with serve(tmp_path) as st:
        files = [RemoteFile(f"lidars/{n}.copc.laz", (tmp_path / f"{n}.copc.laz").stat().st_size,
                            None, f"{st.base}/{n}.copc.laz") for n in ("bad", "good")]
        p = preview_files(files, max_points=500)
    by = {i.name: i for i in p.items}
    bad = by["lidars/bad.copc.laz"]
    assert bad.status == "error" and bad.result is None
    assert "lidars/bad.copc.laz" in bad.message and "hierarchy is broken" in bad.message
    good_item = by["lidars/good.copc.laz"]  # the rest of the preview is still shown
    assert good_item.status == "previewed" and len(good_item.result) == 500


def test_local_copc_with_garbled_hierarchy_is_named(tmp_path: Path) -> None:
    """The local reader too: no silent empty sample from a damaged hierarchy."""
    import laspy

    from terranb.results.pointcloud import PointCloud

    good = _copc(tmp_path)
    assert len(PointCloud.open(good).decimate(300)) == 300
    with laspy.CopcReader.open(str(good)) as reader:
        offset = reader.copc_info.hierarchy_root_offset
        length = reader.copc_info.hierarchy_root_size
    data = bytearray(good.read_bytes())
    data[offset:offset + length] = b"\xff" * length
    bad = tmp_path / "bad.copc.laz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ResultFormatError, match=r"bad\.copc\.laz.*hierarchy lists no points"):
        PointCloud.open(bad).decimate(300)
