"""STAC Items: structure, projection extension, footprint and multihash checksums."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from terranb.errors import ResultFormatError
from terranb.results.ortho import Orthomosaic
from terranb.results.pointcloud import PointCloud
from terranb.results.samples import write_sample_las, write_sample_ortho, write_sample_tree
from terranb.results.stac import FILE_EXT, PROJ_EXT, multihash_sha256, stac_item, write_item


def check_item(item: dict[str, Any], base: Path | None = None) -> None:
    """Structural validation of a STAC 1.0.0 Item (the parts of the JSON schema that matter)."""
    assert item["type"] == "Feature" and item["stac_version"] == "1.0.0"
    assert isinstance(item["id"], str) and item["id"]
    assert PROJ_EXT in item["stac_extensions"] and FILE_EXT in item["stac_extensions"]
    assert isinstance(item["links"], list)
    props = item["properties"]
    datetime.strptime(props["datetime"], "%Y-%m-%dT%H:%M:%SZ")
    assert "proj:epsg" in props
    if item["geometry"] is None:
        assert "bbox" not in item
    else:
        w, s, e, n = item["bbox"]
        assert -180 <= w <= e <= 180 and -90 <= s <= n <= 90
        assert item["geometry"]["type"] == "Polygon"
        ring = item["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        for lon, lat in ring:
            assert w - 1e-9 <= lon <= e + 1e-9 and s - 1e-9 <= lat <= n + 1e-9
    assert item["assets"]
    for asset in item["assets"].values():
        assert {"href", "type", "roles"} <= set(asset)
        path = (base / asset["href"]) if base else Path(asset["href"])
        assert path.is_file(), asset["href"]
        assert asset["file:size"] == path.stat().st_size
        assert asset["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
    json.dumps(item)


def test_ortho_item(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "result.tif")
    o = Orthomosaic.open(tif)
    item = stac_item(o)
    check_item(item)
    p = item["properties"]
    assert p["proj:epsg"] == 32650 and p["proj:shape"] == [48, 64]
    assert p["proj:transform"][:6] == pytest.approx(list(tuple(o.transform)[:6]))
    assert p["proj:bbox"] == pytest.approx(list(o.bounds)) and p["gsd"] == pytest.approx(0.05)
    assert set(item["assets"]) == {"ortho", "ortho-tfw", "ortho-prj"}
    assert item["assets"]["ortho"]["type"] == "image/tiff; application=geotiff"
    assert item["bbox"] == pytest.approx(list(o.bounds_wgs84 or ()))


def test_tree_item_relative_hrefs(tmp_path: Path) -> None:
    root = write_sample_tree(tmp_path / "r", "3d")
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    item = stac_item(root, base=tmp_path, when=when, item_id="job-1")
    check_item(item, base=tmp_path)
    assert item["id"] == "job-1" and item["properties"]["datetime"] == "2025-01-02T03:04:05Z"
    assert item["properties"]["terranb:kind"] == "3d"
    assert {"point_cloud", "mesh", "texture", "model_report"} <= set(item["assets"])
    assert item["assets"]["point_cloud"]["pc:count"] == 3000
    assert not item["assets"]["mesh"]["href"].startswith("/")
    out = write_item(item, tmp_path / "item.json")
    assert json.loads(out.read_text()) == item


def test_no_crs_item_and_no_checksum(tmp_path: Path) -> None:
    las = write_sample_las(tmp_path / "a.las", n=20, epsg=None)
    item = stac_item(PointCloud.open(las), checksum=False)
    assert item["geometry"] is None and "bbox" not in item
    assert item["properties"]["proj:epsg"] is None
    assert "file:checksum" not in item["assets"]["point_cloud"]


def test_wkt2_for_crs_without_epsg(real_data: Path) -> None:
    item = stac_item(real_data / "geotiff" / "rasterio" / "rgb1.tif", checksum=False)
    assert item["properties"]["proj:epsg"] is None
    assert "PROJCRS" in item["properties"]["proj:wkt2"]


def test_multihash_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc" * 1000)
    assert multihash_sha256(f, block=7) == "1220" + hashlib.sha256(b"abc" * 1000).hexdigest()
    with pytest.raises(ResultFormatError):
        stac_item(object())
