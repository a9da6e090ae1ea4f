"""One set of job states over TerraAPI job statuses and FlightHub 2 model statuses.

:class:`JobState` is what the Job handle, the ledger, the CLI and the widgets
show; :class:`JobStatus` is one observation (state, the service's own code,
progress, message). The mappings follow protocol.md §1.7 and §3.5:

===================  =================  ==========================================
JobState             TerraAPI status    FlightHub 2 model_status
===================  =================  ==========================================
CREATED              0                  (none: FH2 models start on creation)
QUEUED               1                  12 requesting resource
PREPARING            2                  -
RUNNING              3                  14 executing
PROCESSING           4                  15/9 while the result zip is being made
SUCCEEDED            6                  15, or 9 (2D map succeeded), zip finished
FAILED               7                  8 failed, 13 requesting resource failed
CANCELLED            5 stopped          16 canceled
UNKNOWN              anything else      anything else
===================  =================  ==========================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FH2_TERMINAL", "TERRA_TERMINAL", "JobState", "JobStatus", "from_fh2", "from_terra"]

TERRA_TERMINAL = frozenset({5, 6, 7})
FH2_TERMINAL = frozenset({8, 9, 13, 15, 16})


class JobState(str, enum.Enum):
    """Backend-neutral job state."""

    CREATED = "created"
    QUEUED = "queued"
    PREPARING = "preparing"
    RUNNING = "running"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, word: str) -> JobState:
        """The state named ``word`` (a stored ``value``), ``UNKNOWN`` for any other word."""
        try:
            return cls(word)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        """True once the job will not change any more."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)

    @property
    def is_success(self) -> bool:
        """True when the results can be downloaded."""
        return self is JobState.SUCCEEDED


_TERRA = {0: JobState.CREATED, 1: JobState.QUEUED, 2: JobState.PREPARING, 3: JobState.RUNNING,
          4: JobState.PROCESSING, 5: JobState.CANCELLED, 6: JobState.SUCCEEDED,
          7: JobState.FAILED}
_TERRA_TEXT = {0: "waiting for start", 1: "waiting", 2: "preparing", 3: "executing",
               4: "result processing", 5: "stopped", 6: "finished", 7: "failed"}
_FH2_TEXT = {8: "reconstruction failed", 9: "map reconstruction succeeded",
             12: "requesting resource", 13: "requesting resource failed",
             14: "reconstruction executing", 15: "reconstruction succeeded",
             16: "reconstruction canceled"}


@dataclass(frozen=True)
class JobStatus:
    """One observation of a job.

    Attributes:
        job_id: TerraAPI job uuid or FlightHub 2 model uuid.
        state: the backend-neutral state.
        raw_status: the service's own status code.
        progress: 0..1.
        message: the service's message (failure reason) or a short status text.
        remain_seconds: the service's estimate, when it gives one.
        output_ref: TerraAPI output resource uuid / FlightHub 2 zip_file_key.
        raw: the service's object (a model from :mod:`terranb.api.models`).
    """

    job_id: str
    state: JobState
    raw_status: int
    progress: float = 0.0
    message: str = ""
    remain_seconds: int | None = None
    output_ref: str = ""
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """True once the job will not change any more."""
        return self.state.is_terminal

    def describe(self) -> str:
        """A one-line human description, e.g. ``running 42% (executing)``."""
        pct = f" {self.progress * 100:.0f}%" if not self.state.is_terminal else ""
        extra = f" ({self.message})" if self.message else ""
        return f"{self.state.value}{pct}{extra}"


def from_terra(job: Any) -> JobStatus:
    """A :class:`JobStatus` from a TerraAPI :class:`~terranb.api.models.Job`."""
    code = int(getattr(job, "status", -1))
    state = _TERRA.get(code, JobState.UNKNOWN)
    pct = float(getattr(job, "percentage", 0.0) or 0.0)
    progress = 1.0 if state is JobState.SUCCEEDED else max(0.0, min(1.0, pct))
    message = str(getattr(job, "message", "") or "") or _TERRA_TEXT.get(code, f"status {code}")
    return JobStatus(str(job.uuid), state, code, progress, message,
                     getattr(job, "remain_seconds", None),
                     str(getattr(job, "output_resource_uuid", "") or ""), job)


def from_fh2(model: Any) -> JobStatus:
    """A :class:`JobStatus` from a FlightHub 2 :class:`~terranb.api.models.Model`.

    A succeeded model (15, or 9 for 2D maps) stays PROCESSING until its result
    zip is finished (``zip_status`` 2), because the zip is what gets downloaded.
    """
    code = int(getattr(model, "model_status", -1))
    zip_status = int(getattr(model, "zip_status", 0))
    progress = float(getattr(model, "reconstruction_progress", 0) or 0) / 100.0
    text = _FH2_TEXT.get(code, f"status {code}")
    error = int(getattr(model, "error_code", 0) or 0)
    if code in (15, 9):
        if zip_status == 2:
            state, message = JobState.SUCCEEDED, text
        elif zip_status == 3:
            state, message = JobState.FAILED, "reconstruction succeeded but packing the " \
                                              "result zip failed"
        else:
            state = JobState.PROCESSING
            message = f"packing results {int(getattr(model, 'zip_progress', 0) or 0)}%"
            progress = 0.95 + 0.05 * float(getattr(model, "zip_progress", 0) or 0) / 100.0
    elif code in (8, 13):
        state, message = JobState.FAILED, text + (f" (error code {error})" if error else "")
    elif code == 16:
        state, message = JobState.CANCELLED, text
    elif code == 12:
        state, message = JobState.QUEUED, text
    elif code == 14:
        state, message = JobState.RUNNING, text
    else:
        state, message = JobState.UNKNOWN, text
    if state is JobState.SUCCEEDED:
        progress = 1.0
    return JobStatus(str(model.model_uuid), state, code, max(0.0, min(1.0, progress)), message,
                     None, str(getattr(model, "zip_file_key", "") or ""), model)
