"""STAC items checked by an independent implementation: pystac reads them and its bundled
JSON schemas (no network) validate the core Item after pystac's own migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from terranb.results.samples import write_sample_las, write_sample_ortho, write_sample_tree
from terranb.results.stac import stac_item

pystac = pytest.importorskip("pystac")
jsonschema = pytest.importorskip("jsonschema")
local = pytest.importorskip("pystac.validation.local_validator")


def _validate_core(item: dict[str, Any]) -> None:
    from referencing import Registry, Resource

    cache = local.get_local_schema_cache()
    registry = Registry().with_resources(
        [(k, Resource.from_contents(v)) for k, v in cache.items()])
    migrated = pystac.Item.from_dict(item, migrate=True).to_dict(include_self_link=False)
    uri = next(k for k in cache if k.endswith("item-spec/json-schema/item.json"))
    validator = jsonschema.Draft7Validator(cache[uri], registry=registry)
    errors = sorted(validator.iter_errors(migrated), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.mark.parametrize("kind", ["ortho", "las", "tree-2d", "tree-3d", "tree-lidar"])
def test_items_are_valid_stac(tmp_path: Path, kind: str) -> None:
    if kind == "ortho":
        target: Any = write_sample_ortho(tmp_path / "o.tif")
    elif kind == "las":
        target = write_sample_las(tmp_path / "c.las")
    else:
        target = write_sample_tree(tmp_path / "r", kind.split("-")[1])
    item = stac_item(target, base=tmp_path)
    _validate_core(item)
    read = pystac.Item.from_dict(item)
    assert read.id == item["id"] and set(read.assets) == set(item["assets"])
    if item.get("bbox"):
        assert read.bbox == pytest.approx(item["bbox"])


def test_the_validator_is_not_vacuous(tmp_path: Path) -> None:
    item = stac_item(write_sample_ortho(tmp_path / "o.tif"), base=tmp_path)
    item["geometry"]["coordinates"] = [[[0, 0], [1, 1]]]  # a ring needs at least 4 positions
    with pytest.raises(AssertionError, match="geometry"):
        _validate_core(item)
