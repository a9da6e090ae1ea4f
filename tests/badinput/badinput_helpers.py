"""Checks shared by the bad-input battery: one-line messages, nothing half written."""

from __future__ import annotations

from pathlib import Path


def one_line(text: str, *needles: str) -> str:
    """``text`` stripped; asserts it is one line and contains every needle (case-insensitive)."""
    text = str(text).strip()
    assert text, "empty message"
    assert "\n" not in text, f"message is not one line: {text!r}"
    assert "Traceback" not in text
    for n in needles:
        assert n.lower() in text.lower(), f"{n!r} not in {text!r}"
    return text


def cli_error(err: str, *needles: str) -> str:
    """The stderr of a failed CLI run: exactly one ``terranb: error:`` line, no traceback."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1, f"expected one error line, got {lines!r}"
    return one_line(errors[0], *needles)


def no_partials(root: Path) -> None:
    """No ``.part`` leftovers anywhere under ``root``."""
    left = [p for p in root.rglob("*") if p.name.endswith(".part")]
    assert not left, f"half-written files left: {left}"


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}
