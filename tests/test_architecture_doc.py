"""docs/architecture.md matches the code: every module is named, the layer table is CI's."""

from __future__ import annotations

import re

from test_import_rules import LAYER, PKG

DOC = PKG.parent / "docs" / "architecture.md"


def _index() -> dict[str, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Module index", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for item in re.split(r"\n- ", section):
        if ":" not in item:
            continue
        folder, names = item.split(":", 1)
        folder = folder.strip().strip("`").strip("- ")
        out[folder] = set(re.findall(r"`([\w]+)`", names))
    return out


def test_every_module_is_in_the_index() -> None:
    index = _index()
    missing = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        folder = "top level" if len(rel.parts) == 1 else "/".join(rel.parts[:-1])
        if rel.stem not in index.get(folder, set()):
            missing.append(str(rel))
    assert not missing, f"name these modules in {DOC} (Module index): {missing}"


def test_index_names_no_module_that_is_gone() -> None:
    gone = []
    for folder, names in _index().items():
        base = PKG if folder == "top level" else PKG / folder
        gone += [f"{folder}/{n}" for n in names if not (base / f"{n}.py").exists()]
    assert not gone, f"remove these from {DOC}: {gone}"


def test_layer_table_is_the_one_ci_checks() -> None:
    text = DOC.read_text(encoding="utf-8")
    table: dict[str, int] = {}
    for row in re.findall(r"^\| (`.+?) \| (\d) \|$", text, flags=re.M):
        for name in re.findall(r"`([\w]+)`", row[0]):
            table[name] = int(row[1])
    assert table == LAYER
