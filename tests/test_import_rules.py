"""The layering of architecture.md, checked on the source (every import, top level or not).

    cli | widgets | demo -> report | viz -> jobs -> api | transfer | results | dataset
        -> params | models | config | credentials -> errors

Imports go downward or sideways within a layer, never upward; no module imports
itself through a circle of imports (function-level imports included: a lazy import
hides a circle, it does not remove it); inside a package, siblings are imported as
modules (``from terranb.viz.legend import x``), never through the package's
``__init__``; on top of that:
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
    "retry": 0,
    "closing": 0,
    "lazy_exports": 0,
    "params": 1,
    "params_geo": 1,
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


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["terranb", *parts])


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _sources()}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _runtime_nodes(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # ``from pkg import mod`` names a module when pkg.mod is one.
                names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                         else node.module for a in node.names]
            for name in names:
                if name in modules and name != mod:
                    graph[mod].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    # Package __init__ modules re-export lazily by name (no import statement), and the
    # top-level package is the entry point, so neither takes part in a circle.
    graph = {m: {t for t in ts if t != "terranb"} for m, ts in _graph().items()}
    found = _cycles(graph)
    assert not found, "import circles (break them by moving the shared piece down):\n" + \
        "\n".join(" <-> ".join(c) for c in found)


def test_siblings_are_imported_as_modules() -> None:
    modules = {_module_name(p) for p in _sources()}
    problems = []
    for path in _sources():  # the package __init__ loads first, and may re-export lazily
        mod = _module_name(path)
        if path.name == "__init__.py":
            continue
        package = mod.rsplit(".", 1)[0]
        if package == "terranb":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == package and not node.level:
                for alias in node.names:
                    what = ("module" if f"{package}.{alias.name}" in modules else "name")
                    problems.append(f"{path.relative_to(PKG)}:{node.lineno}: imports the "
                                    f"{what} {alias.name} through {package}/__init__; write "
                                    f"`from {package}.{alias.name} import ...` or "
                                    f"`import {package}.{alias.name} as {alias.name}`")
    assert not problems, "\n".join(problems)


def test_the_rules_find_a_circle() -> None:
    """Self-test: the cycle finder is not vacuous."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
