"""Notebook widgets: submit a data set, track jobs, browse results.

* :class:`SubmitWidget` -- folder, backend, job type, CRS, parameters; Check runs
  preflight (findings and a footprint map), Submit uploads with byte progress.
* :class:`JobTracker` -- live table of the ledger's jobs with Cancel, Attach and
  Download; refreshed by an asyncio task on the kernel's loop. Its jobs come from
  :class:`LedgerOps`, or anything else that has the :class:`TrackerOps` methods.
* :class:`ResultBrowser` -- the result tree with Map, 3D view, Report, Download.
* :func:`backends_for` -- ``kind -> Backend`` for a service description such as
  the local emulator's :class:`~terranb.emulator.EmulatorInfo`.

ipywidgets loads on first use of one of these names, not on import.
"""

from __future__ import annotations

from terranb.lazy_exports import lazy_exports

__all__ = ["JobTracker", "LedgerOps", "ResultBrowser", "SubmitOps", "SubmitWidget",
           "TrackerOps", "backends_for"]

__getattr__ = lazy_exports(__name__, {
    "JobTracker": "tracker", "LedgerOps": "tracker", "TrackerOps": "tracker",
    "ResultBrowser": "browser", "SubmitOps": "submit", "SubmitWidget": "submit",
    "backends_for": "_common",
})
