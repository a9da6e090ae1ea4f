"""Findings: what is missing, odd or suspicious in a result file or tree.

Readers in :mod:`terranb.results` never fail on a recoverable oddity (a world
file without a ``.prj``, a report key that is missing, a texture that is not
there); they record a :class:`Finding` and carry on, so a notebook can show every
problem at once. Unrecoverable problems raise
:class:`~terranb.errors.ResultFormatError` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from terranb.errors import ResultFormatError

Level = Literal["error", "warning", "info"]

__all__ = ["Finding", "Level", "read_sidecar", "worst"]

_T = TypeVar("_T")

_ORDER = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Finding:
    """One problem or remark about a result.

    Attributes:
        level: ``"error"`` (the part is unusable), ``"warning"`` (usable, but check
            it) or ``"info"`` (worth knowing).
        code: stable machine-readable identifier, e.g. ``"ortho.no_crs"``.
        message: what is wrong and what to do about it, in one or two sentences.
        path: the file or folder concerned, when there is one.
    """

    level: Level
    code: str
    message: str
    path: str | None = None

    @classmethod
    def make(cls, level: Level, code: str, message: str, path: str | Path | None = None) -> Finding:
        """Build a finding, turning a :class:`~pathlib.Path` into text."""
        return cls(level, code, message, None if path is None else str(path))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"level": self.level, "code": self.code, "message": self.message, "path": self.path}

    def __str__(self) -> str:
        where = f" [{self.path}]" if self.path else ""
        return f"{self.level.upper()} {self.code}: {self.message}{where}"


def read_sidecar(path: Path | None, read: Callable[[Path], _T], code: str,
                 findings: list[Finding]) -> _T | None:
    """``read(path)``, or ``None`` when there is no such file; a file that cannot be read
    becomes a ``code`` warning in ``findings`` (the main file is still usable without it)."""
    if path is None:
        return None
    try:
        return read(path)
    except ResultFormatError as exc:
        findings.append(Finding.make("warning", code, str(exc), path))
        return None


def worst(findings: list[Finding]) -> Level | None:
    """The most severe level among ``findings`` (``None`` when there are none)."""
    if not findings:
        return None
    return max((f.level for f in findings), key=lambda lv: _ORDER[lv])
