"""Findings: one problem (or note) about a data set, with its severity, file and fix.

The EXIF reader, the footprint code and preflight all report through
:class:`Finding`, so a notebook, the CLI and the submit path show the same
messages. ``code`` is a stable machine-readable name (tests and scripts match
on it); ``message`` is for people and always says what to do.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SEVERITIES", "Finding", "findings_html", "findings_table"]

#: Severities from worst to mildest.
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One problem or note.

    Attributes:
        severity: ``"error"`` (the job would fail or be refused), ``"warning"``
            (it may fail or give poor results) or ``"info"``.
        code: stable identifier, e.g. ``"no_gps"``, ``"low_forward_overlap"``.
        message: what is wrong, naming the file, and how to fix it.
        path: the file concerned, or ``None`` for the data set as a whole.
    """

    severity: str
    code: str
    message: str
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "path": None if self.path is None else str(self.path)}


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order[f.severity], f.code, str(f.path or "")))


def _elide(findings: Iterable[Finding], max_per_code: int) -> tuple[list[Finding], dict[str, int]]:
    """Worst first, at most ``max_per_code`` of each code; and how many of each were left out."""
    shown: list[Finding] = []
    seen: dict[str, int] = {}
    hidden: dict[str, int] = {}
    for f in _sorted(findings):
        seen[f.code] = seen.get(f.code, 0) + 1
        if seen[f.code] > max_per_code:
            hidden[f.code] = hidden.get(f.code, 0) + 1
        else:
            shown.append(f)
    return shown, hidden


def findings_table(findings: Iterable[Finding], *, max_per_code: int = 20) -> str:
    """A plain-text table, worst first; long runs of one code are elided."""
    rows: list[tuple[str, str, str]] = []
    shown, hidden = _elide(findings, max_per_code)
    rows += [(f.severity.upper(), f.code, f.message) for f in shown]
    for code, n in hidden.items():
        rows.append(("", code, f"... and {n} more like this"))
    if not rows:
        return "no findings"
    w0 = max(len(r[0]) for r in [*rows, ("SEVERITY", "", "")])
    w1 = max(len(r[1]) for r in [*rows, ("", "CODE", "")])
    lines = [f"{'SEVERITY':<{w0}}  {'CODE':<{w1}}  MESSAGE", f"{'-' * w0}  {'-' * w1}  -------"]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


_COLOURS = {"error": "#b00020", "warning": "#b26a00", "info": "#555"}


def findings_html(findings: Iterable[Finding], *, max_per_code: int = 50) -> str:
    """An HTML table (used by ``_repr_html_``); text is escaped."""
    out = ["<table><thead><tr><th>severity</th><th>code</th><th>message</th></tr></thead><tbody>"]
    shown, hidden = _elide(findings, max_per_code)
    for f in shown:
        out.append(
            f"<tr><td style='color:{_COLOURS[f.severity]};font-weight:bold'>{f.severity}</td>"
            f"<td><code>{html.escape(f.code)}</code></td><td>{html.escape(f.message)}</td></tr>"
        )
    for code, n in hidden.items():
        out.append(f"<tr><td></td><td><code>{html.escape(code)}</code></td>"
                   f"<td>... and {n} more like this</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)
