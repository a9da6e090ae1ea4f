"""The layering of architecture.md, checked on the source (every import, top level or not).

    cli | widgets | demo -> report | viz -> jobs -> api | transfer | results | dataset
        -> params | models | config | credentials -> errors

Imports go downward or sideways within a layer, never upward; on top of that:
``api`` never imports boto3, ``transfer`` never imports ``api`` (it receives a
credentials object), ``results``/``viz``/``dataset`` do no HTTP, and nothing but
the CLI (and the demo it runs) imports ``emulator``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "terranb"

LAYER = {
    "errors": 0,
    "redact": 0,
    "_version": 0,
    "params": 1,
    "models": 1,
    "config": 1,
    "credentials": 1,
    "api": 2,
    "transfer": 2,
    "results": 2,
    "dataset": 2,
    "jobs": 3,
    "report": 4,
    "viz": 4,
    "cli": 5,
    "widgets": 5,
    "demo": 5,
    "__init__": 0,
    "__main__": 5,
}

# (importer, imported) pairs that are forbidden even though the layers would allow them.
FORBIDDEN_PAIRS = {("transfer", "api"), ("api", "transfer")}
# Third-party modules a part must never import.
FORBIDDEN_LIBS = {
    "api": {"boto3", "botocore", "rasterio", "laspy", "trimesh", "folium", "ipywidgets"},
    "results": {"requests", "boto3", "urllib.request", "http.client", "httpx"},
    "viz": {"requests", "boto3", "urllib.request", "http.client", "httpx"},
    "dataset": {"requests", "boto3", "urllib.request", "http.client", "httpx"},
    "params": {"requests", "boto3"},
    "errors": {"requests", "boto3"},
}
EMULATOR_IMPORTERS = {"cli", "demo", "__main__", "emulator"}


def _part(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the file's package
                base = list(path.relative_to(PKG).with_suffix("").parts[: -node.level])
                name = ".".join(["terranb", *base] + ([node.module] if node.module else []))
                found.append((name, node.lineno))
            elif node.module:
                found.append((node.module, node.lineno))
    return found


def _sources() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_part_has_a_layer() -> None:
    unknown = {_part(p) for p in _sources()} - set(LAYER) - {"emulator"}
    assert not unknown, f"add these parts of terranb to LAYER in {__file__}: {sorted(unknown)}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PKG)))
def test_imports_follow_the_layers(path: Path) -> None:
    part = _part(path)
    problems = []
    for name, line in _imports(path):
        if name.startswith("terranb."):
            target = name.split(".")[1]
            if target == "emulator":
                if part not in EMULATOR_IMPORTERS:
                    problems.append(f"line {line}: {part} imports the emulator ({name})")
                continue
            if part == "emulator":
                continue  # the emulator may use any lower part (dataset, results, signing)
            if (part, target) in FORBIDDEN_PAIRS:
                problems.append(f"line {line}: {part} must not import {target} ({name})")
            elif target in LAYER and LAYER[target] > LAYER.get(part, 0):
                problems.append(f"line {line}: {part} (layer {LAYER[part]}) imports upward "
                                f"{name} (layer {LAYER[target]})")
        else:
            for lib in FORBIDDEN_LIBS.get(part, ()):
                if name == lib or name.startswith(lib + "."):
                    problems.append(f"line {line}: {part} must not import {name}")
    assert not problems, "\n".join(problems)
