"""Reconstruction jobs over TerraAPI v2 and FlightHub 2 behind one handle.

* :class:`~terranb.jobs.job.Job`: ``submit`` (preflight, upload, bind, start),
  ``attach``, ``status``, ``wait``, ``cancel``, ``results``
* :mod:`.backend`: the protocol; :mod:`.factory`: :func:`make_backend`
* :mod:`.states`: one set of states over both services' codes
* :mod:`.ledger`: every job in SQLite, for re-attaching after a restart
* :mod:`.waiter`: polling with backoff that survives flaky networks and sleep
"""

from __future__ import annotations

from typing import Any

__all__ = ["Job", "JobState", "JobStatus", "Ledger", "make_backend"]

_LAZY = {
    "Job": "terranb.jobs.job",
    "JobState": "terranb.jobs.states",
    "JobStatus": "terranb.jobs.states",
    "Ledger": "terranb.jobs.ledger",
    "make_backend": "terranb.jobs.factory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'terranb.jobs' has no attribute {name!r}")
