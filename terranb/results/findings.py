"""Findings: what is missing, odd or suspicious in a result file or tree.

Readers in :mod:`terranb.results` never fail on a recoverable oddity (a world
file without a ``.prj``, a report key that is missing, a texture that is not
there); they record a :class:`Finding` and carry on, so a notebook can show every
problem at once. Unrecoverable problems raise
:class:`~terranb.errors.ResultFormatError` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Level = Literal["error", "warning", "info"]

__all__ = ["Finding", "Level", "worst"]

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


def worst(findings: list[Finding]) -> Level | None:
    """The most severe level among ``findings`` (``None`` when there are none)."""
    if not findings:
        return None
    return max((f.level for f in findings), key=lambda lv: _ORDER[lv])
