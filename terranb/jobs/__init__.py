"""Reconstruction jobs over TerraAPI v2 and FlightHub 2 behind one handle.

* :class:`~terranb.jobs.job.Job`: ``submit`` (preflight, upload, bind, start),
  ``attach``, ``status``, ``wait``, ``cancel``, ``results``
* :mod:`.backend`: the protocol; :mod:`.factory`: :func:`make_backend`
* :mod:`.states`: one set of states over both services' codes
* :mod:`.ledger`: every job in SQLite, for re-attaching after a restart
* :mod:`.waiter`: polling with backoff that survives flaky networks and sleep
"""

from __future__ import annotations

from terranb.lazy_exports import lazy_exports

__all__ = ["Job", "JobState", "JobStatus", "Ledger", "make_backend"]

__getattr__ = lazy_exports(__name__, {
    "Job": "job", "JobState": "states", "JobStatus": "states", "Ledger": "ledger",
    "make_backend": "factory",
})
