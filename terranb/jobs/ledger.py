"""The job ledger: every submitted job, so a restarted kernel can find and re-attach to it.

SQLite at ``<user data dir>/terranb/ledger.sqlite3`` (``TERRANB_LEDGER_DIR``
or an explicit path overrides it). One row per job: backend, service origin,
ids (job/model, resource), parameters, data set path and fingerprint, the last
status seen, timings (submitted, upload seconds, started, finished) and where
the outputs were downloaded. No secrets are stored.

Example:
    >>> ledger = Ledger()                    # doctest: +SKIP
    >>> [r.job_id for r in ledger.list()]    # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from terranb.errors import ConfigError, ValidationError
from terranb.jobs.states import JobState, JobStatus

__all__ = ["Ledger", "LedgerRecord", "default_ledger_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    base_url TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    job_type TEXT NOT NULL DEFAULT '',
    resource_uuid TEXT NOT NULL DEFAULT '',
    dataset TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    parameters TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'unknown',
    raw_status INTEGER NOT NULL DEFAULT -1,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    output_ref TEXT NOT NULL DEFAULT '',
    submitted_at REAL NOT NULL,
    upload_seconds REAL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    results_dir TEXT NOT NULL DEFAULT '',
    outputs TEXT NOT NULL DEFAULT '[]'
);
"""


def default_ledger_path() -> Path:
    """``$TERRANB_LEDGER_DIR/ledger.sqlite3`` or ``<user data dir>/terranb/ledger.sqlite3``."""
    env = os.environ.get("TERRANB_LEDGER_DIR")
    if env:
        return Path(env) / "ledger.sqlite3"
    from platformdirs import user_data_dir

    return Path(user_data_dir("terranb", appauthor=False)) / "ledger.sqlite3"


@dataclass
class LedgerRecord:
    """One job in the ledger."""

    job_id: str
    backend: str
    base_url: str = ""
    account: str = ""
    name: str = ""
    job_type: str = ""
    resource_uuid: str = ""
    dataset: str = ""
    fingerprint: str = ""
    parameters: str = ""
    state: str = "unknown"
    raw_status: int = -1
    progress: float = 0.0
    message: str = ""
    output_ref: str = ""
    submitted_at: float = field(default_factory=time.time)
    upload_seconds: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = field(default_factory=time.time)
    results_dir: str = ""
    outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``outputs`` as a list)."""
        return asdict(self)

    def last_status(self) -> JobStatus:
        """The last status seen, as :meth:`Ledger.update_status` stored it.

        The ledger keeps no ETA (it would be stale when read back), so
        ``remain_seconds`` is ``None``; a state word this version does not know
        reads as ``UNKNOWN``.
        """
        return JobStatus(self.job_id, JobState.parse(self.state), self.raw_status,
                         self.progress, self.message, output_ref=self.output_ref)


_COLS = [f for f in LedgerRecord.__dataclass_fields__]


class Ledger:
    """SQLite ledger of jobs (thread-safe within a process; many processes may share it).

    Args:
        path: database file, or a folder (``ledger.sqlite3`` inside); ``None`` for
            :func:`default_ledger_path`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        p = Path(path) if path is not None else default_ledger_path()
        if p.suffix not in (".sqlite3", ".sqlite", ".db"):
            p = p / "ledger.sqlite3"
        self.path = p
        self._lock = threading.Lock()
        fix = "pass another with --ledger or TERRANB_LEDGER_DIR"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the job ledger folder {p.parent}: "
                              f"{exc.strerror or exc}; {fix}") from None
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the job ledger {p}: {exc}; move the file away (a "
                              f"new ledger starts empty) or {fix}") from None

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def _row(self, row: tuple[Any, ...]) -> LedgerRecord:
        data = dict(zip(_COLS, row, strict=True))
        data["outputs"] = json.loads(data["outputs"] or "[]")
        return LedgerRecord(**data)

    def add(self, record: LedgerRecord) -> LedgerRecord:
        """Insert (or replace) a job."""
        values = [getattr(record, c) for c in _COLS]
        values[_COLS.index("outputs")] = json.dumps(record.outputs)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO jobs ({', '.join(_COLS)}) VALUES "
                             f"({', '.join('?' * len(_COLS))})", values)
        return record

    def get(self, job_id: str) -> LedgerRecord | None:
        """A job by id, or by a unique id prefix (at least 4 characters)."""
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLS)} FROM jobs WHERE job_id=?",
                                    (job_id,)).fetchall()
            if not rows and len(job_id) >= 4:
                rows = self._db.execute(f"SELECT {', '.join(_COLS)} FROM jobs WHERE job_id "
                                        "LIKE ? ORDER BY submitted_at DESC",
                                        (job_id.replace("%", "") + "%",)).fetchall()
        if len(rows) > 1:
            raise ValidationError(f"{job_id!r} matches {len(rows)} jobs in the ledger; "
                                  "give more of the uuid")
        return self._row(rows[0]) if rows else None

    def list(self, *, backend: str | None = None, limit: int | None = None) -> list[LedgerRecord]:
        """Jobs, newest first."""
        sql = f"SELECT {', '.join(_COLS)} FROM jobs"
        args: list[Any] = []
        if backend:
            sql += " WHERE backend=?"
            args.append(backend)
        sql += " ORDER BY submitted_at DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [self._row(r) for r in rows]

    def update_status(self, job_id: str, status: JobStatus) -> None:
        """Store the last status seen; the first terminal one sets ``finished_at``."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state=?, raw_status=?, progress=?, message=?, output_ref=?, "
                "updated_at=?, finished_at=CASE WHEN ? AND finished_at IS NULL THEN ? "
                "ELSE finished_at END WHERE job_id=?",
                (status.state.value, status.raw_status, status.progress, status.message,
                 status.output_ref, now, status.is_terminal, now, job_id))

    def set_outputs(self, job_id: str, results_dir: str, outputs: Sequence[str]) -> None:
        """Record where the results were downloaded and which files they are."""
        with self._lock:
            self._db.execute("UPDATE jobs SET results_dir=?, outputs=?, updated_at=? "
                             "WHERE job_id=?", (results_dir, json.dumps(list(outputs)), time.time(),
                                                job_id))
