"""Which service origin a remembered job is reached at, and saying so.

The ledger remembers the origin each job was submitted to. That is a
*remembered* value in the one precedence rule of :mod:`terranb.config`
(explicit argument > environment > profile > ledger > default): it fills in only
when nothing else names an origin, so ``TERRANB_BASE_URL=...`` pointed at a new
emulator port wins over the port stored weeks ago. When the origin used differs
from the remembered one, :func:`origin_note` says which one was used and why.
"""

from __future__ import annotations

from typing import Any

__all__ = ["origin_note", "remembered_origin"]

_FH2 = ("flighthub", "fh2", "flighthub2")


def remembered_origin(record: Any) -> dict[str, str]:
    """``Settings.load(remembered=...)`` values for a ledger record."""
    if not getattr(record, "base_url", None):
        return {}
    key = "fh2_base_url" if record.backend in _FH2 else "base_url"
    return {key: str(record.base_url)}


def origin_note(record: Any, backend: Any) -> str | None:
    """One line when the backend's origin is not the ledger's, naming the winner's source."""
    remembered = str(getattr(record, "base_url", "") or "").rstrip("/")
    used = str(getattr(backend, "base_url", "") or "").rstrip("/")
    if not remembered or not used or remembered == used:
        return None
    settings = getattr(getattr(backend, "client", None), "settings", None)
    key = "fh2_base_url" if record.backend in _FH2 else "base_url"
    why = "an explicit backend"
    if settings is not None and hasattr(settings, "explain"):
        src = settings.sources.get(key)
        if src is None and key == "fh2_base_url":
            key = "base_url"
        why = settings.explain(key) if settings.sources.get(key) else "the region's default host"
    return (f"job {record.job_id} was submitted to {remembered}; using {used} ({why}; order: "
            "explicit > environment > profile > ledger > default)")
