"""Notebook widgets: submit a data set, track jobs, browse results.

* :class:`SubmitWidget` -- folder, backend, job type, CRS, parameters; Check runs
  preflight (findings and a footprint map), Submit uploads with byte progress.
* :class:`JobTracker` -- live table of the ledger's jobs with Cancel, Attach and
  Download; refreshed by an asyncio task on the kernel's loop.
* :class:`ResultBrowser` -- the result tree with Map, 3D view, Report, Download.
* :func:`backends_for` -- ``kind -> Backend`` for a service description such as
  the local emulator's :class:`~terranb.emulator.EmulatorInfo`.

ipywidgets loads on first use of one of these names, not on import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JobTracker", "LedgerOps", "ResultBrowser", "SubmitOps", "SubmitWidget",
           "backends_for"]

_WHERE = {
    "JobTracker": "terranb.widgets.tracker",
    "LedgerOps": "terranb.widgets.tracker",
    "ResultBrowser": "terranb.widgets.browser",
    "SubmitOps": "terranb.widgets.submit",
    "SubmitWidget": "terranb.widgets.submit",
    "backends_for": "terranb.widgets._common",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'terranb.widgets' has no attribute {name!r}")
