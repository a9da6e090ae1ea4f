"""The tracker's table: one :class:`JobRow` per ledger job, drawn as static HTML.

A row holds what it shows instead of copying it: the job's
:class:`~terranb.jobs.ledger.LedgerRecord` (name, backend, type) and the latest
:class:`~terranb.jobs.states.JobStatus` seen of it (the ledger's stored one until
a poll answers). The words in the table -- the state, the service's status label,
the percentage -- are computed from those two, so a row read from the ledger and
a row just polled are drawn by the same rules.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

from terranb.api.models import ModelStatus, TerraJobStatus
from terranb.jobs.ledger import LedgerRecord
from terranb.jobs.states import JobStatus
from terranb.widgets._common import fmt_duration

__all__ = ["JobRow", "jobs_table_html", "status_label"]

_COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "cancelled": "#6e7781",
            "unknown": "#9a6700"}


def status_label(raw_status: int, backend: str) -> str:
    """The service's status code as words (``result processing``), never a bare code.

    The code is named by the enum of the service the backend talks to (FlightHub 2's
    ``model_status`` for ``flighthub`` and ``flighthub-map``, else TerraAPI's job
    status); a code that enum does not know gives ``""`` (the unified state shown
    beside it already says what the job is doing).
    """
    enum_cls = ModelStatus if "flighthub" in backend.lower() else TerraJobStatus
    member = enum_cls.parse(raw_status)
    return "" if member.name == "UNKNOWN" else member.name.lower().replace("_", " ")


@dataclass(frozen=True)
class JobRow:
    """One line of the tracker table: a ledger job and the latest status seen of it.

    Build one with :meth:`from_record`; :meth:`observed` and :meth:`poll_failed`
    return the row after a poll. What the record and the status already say is
    read from them (``row.record.job_id``, ``row.seen.remain_seconds``); the
    properties are the words the table and the buttons derive from both.

    Attributes:
        record: the job's ledger record (id, name, backend, type, results folder).
        seen: the latest status: the ledger's stored one, or a poll's answer.
        poll_error: why the last poll failed (shown as the message), ``""`` if it did not.
    """

    record: LedgerRecord
    seen: JobStatus
    poll_error: str = ""

    @classmethod
    def from_record(cls, record: LedgerRecord) -> JobRow:
        """The row of a ledger record, showing the last status the ledger stored."""
        return cls(record, record.last_status())

    def observed(self, status: JobStatus) -> JobRow:
        """This row showing ``status``, a fresh poll of the same job."""
        return replace(self, seen=status, poll_error="")

    def poll_failed(self, exc: BaseException) -> JobRow:
        """This row with the poll's error as its message (the last status stays)."""
        return replace(self, poll_error=f"{type(exc).__name__}: {exc}")

    @property
    def state(self) -> str:
        """The unified state word (a :class:`~terranb.jobs.states.JobState` value)."""
        return self.seen.state.value

    @property
    def status_label(self) -> str:
        """The service's own status in words, shown beside the state."""
        return status_label(self.seen.raw_status, self.record.backend)

    @property
    def message(self) -> str:
        """The poll's error, else the service's message."""
        return self.poll_error or self.seen.message

    @property
    def active(self) -> bool:
        """True while the job may still change."""
        return not self.seen.is_terminal

    @property
    def finished(self) -> bool:
        """True when the job succeeded and results can be downloaded."""
        return self.seen.state.is_success


def _bar_html(pct: float, state: str) -> str:
    value = 100.0 if state == "succeeded" else pct
    colour = _COLOURS.get(state, "#0969da")
    width = max(0.0, min(100.0, value))
    # the label sits beside the bar, not on it: dark text over a full green bar was unreadable
    return (f'<div class="tnb-progress" style="display:flex;align-items:center;gap:6px">'
            f'<div style="width:120px;background:#eaeef2;border-radius:3px;height:14px;'
            f'flex:none"><div style="width:{width:.1f}%;background:{colour};height:14px;'
            f'border-radius:3px"></div></div><span style="font-size:11px;color:#1f2328;'
            f'min-width:3em">{value:.0f}%</span></div>')


def jobs_table_html(rows: list[JobRow], title: str = "terranb jobs") -> str:
    """A static HTML table of job rows (the tracker's display and its export snapshot)."""
    esc = html.escape
    head = ("<tr>" + "".join(f'<th style="text-align:left;padding:2px 8px">{h}</th>' for h in
                              ("job", "name", "backend", "type", "state", "progress", "ETA",
                               "message")) + "</tr>")
    body = []
    for r in rows:
        job = r.record
        colour = _COLOURS.get(r.state, "#0969da")
        label = r.status_label
        status = esc(r.state) + (f' <small style="color:#6e7781">({esc(label)})</small>'
                                 if label and label != r.state else "")
        eta = fmt_duration(r.seen.remain_seconds) if r.active else "-"
        msg = esc(r.message[:200])
        msg_colour = "#cf222e" if r.state in ("failed", "cancelled") else "#57606a"
        body.append(
            "<tr>"
            f'<td style="padding:2px 8px;font-family:monospace" title="{esc(job.job_id)}">'
            f"{esc(job.job_id[:8])}</td>"
            f'<td style="padding:2px 8px">{esc(job.name)}</td>'
            f'<td style="padding:2px 8px">{esc(job.backend)}</td>'
            f'<td style="padding:2px 8px">{esc(job.job_type)}</td>'
            f'<td style="padding:2px 8px;color:{colour};font-weight:600" class="tnb-state">'
            f"{status}</td>"
            f'<td style="padding:2px 8px">{_bar_html(r.seen.progress * 100.0, r.state)}</td>'
            f'<td style="padding:2px 8px">{eta}</td>'
            f'<td style="padding:2px 8px;color:{msg_colour}">{msg}</td>'
            "</tr>")
    if not rows:
        body.append('<tr><td colspan="8" style="padding:4px 8px;color:#6e7781">'
                    "no jobs in the ledger yet</td></tr>")
    return (f'<div class="terranb-jobs"><b>{esc(title)}</b>'
            f'<table style="border-collapse:collapse;font-size:13px">{head}{"".join(body)}</table>'
            "</div>")
