"""Binding uploaded objects to a resource (``upload_callback``): once per file, in batches.

Only objects confirmed in the bucket by ``head_object`` (size and ETag) are bound; a
batch interrupted between being sent and being recorded is reconciled through
``bound_names`` (what the service says is bound), so a retry never binds a file twice.
``transfer`` never imports ``api``: the job layer passes the call that binds a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from terranb.errors import TerranbError, TransferError, is_transient_service_error
from terranb.retry import TRANSFERS
from terranb.transfer.body import strip_etag
from terranb.transfer.journal import BIND_DONE, BIND_PENDING, FileRow, Journal, SessionRow
from terranb.transfer.progress import ProgressCallback, ProgressTracker
from terranb.transfer.s3client import error_code

__all__ = ["BindBatch", "BindResult", "Binder"]

BindBatch = Callable[[str, Sequence[FileRow]], None]
"""``bind_batch(callback_param, files)``: link these uploaded files to the resource."""


@dataclass
class BindResult:
    """What one :meth:`Binder.bind` did."""

    resource_uuid: str
    bound: list[str]
    already_bound: list[str]
    missing: list[str]
    calls: int


class Binder:
    """Confirms and binds the files of an upload session.

    Args:
        call: ``call(what, fn)`` runs ``fn(s3_client)`` with renewal and retries.
        journal: the upload journal.
        workers: parallel ``head_object`` checks.
        on_progress: progress events (phase ``"bind"``).
        sleep: injectable sleep for the backoff between batch attempts.
    """

    def __init__(self, call: Callable[[str, Callable[[Any], Any]], Any], journal: Journal, *,
                 workers: int, on_progress: ProgressCallback | None,
                 sleep: Callable[[float], None]) -> None:
        self._call = call
        self.journal = journal
        self.workers = workers
        self.on_progress = on_progress
        self._sleep = sleep

    def confirm(self, session: SessionRow, rows: Sequence[FileRow]) -> list[str]:
        """``head_object`` each unconfirmed row; returns the paths missing or different.

        Missing or different objects are reset in the journal, so the next
        :meth:`upload` sends them again.
        """
        todo = [r for r in rows if r.uploaded and not r.confirmed]
        bad: list[str] = [r.rel for r in rows if not r.uploaded]
        ok: list[str] = []

        def head(row: FileRow) -> bool:
            try:
                resp = self._call(f"check {row.rel}", lambda c: c.head_object(
                    Bucket=session.bucket, Key=row.key))
            except TransferError as exc:
                if error_code(exc.__cause__ or exc) in {"404", "NoSuchKey", "NotFound"}:
                    return False
                raise
            return (int(resp.get("ContentLength", -1)) == row.size
                    and strip_etag(resp.get("ETag")) == strip_etag(row.etag))

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for row, good in zip(todo, pool.map(head, todo), strict=True):
                (ok if good else bad).append(row.rel)
        self.journal.set_confirmed(session.id, ok)
        for rel in bad:
            self.journal.reset_file(session.id, rel)
        return sorted(bad)

    def bind(self, session: SessionRow, wanted: set[str] | None, resource_uuid: str,
             bind_batch: BindBatch, *, batch_size: int = 50,
             bound_names: Callable[[], set[str]] | None = None,
             attempts: int = 6) -> BindResult:
        """Link the session's confirmed objects to ``resource_uuid``, each file once.

        Args:
            session: the upload session whose files to bind.
            wanted: only these relative paths (None: every file of the session).
            resource_uuid: the resource (TerraAPI) or resource uuid (FlightHub 2).
            bind_batch: ``bind_batch(callback_param, rows)`` calls ``upload_callback``.
            batch_size: files per call (50 as in DJI's examples).
            bound_names: returns the names already bound to the resource; used to
                reconcile after a failed or interrupted call, so a retry never binds
                a file twice.
            attempts: tries per batch on transient errors (transport, 5xx).

        Returns:
            a :class:`BindResult`; ``missing`` lists files that were not in the
            bucket (reset in the journal: upload again, then bind again).
        """
        rows = [r for r in self.journal.files(session.id) if wanted is None or r.rel in wanted]
        already = [r.rel for r in rows
                   if r.bind_state == BIND_DONE and r.bound_resource == resource_uuid]
        todo = [r for r in rows if r.rel not in set(already)]
        stale = [r for r in todo if r.bind_state == BIND_PENDING]
        calls = 0
        if stale and bound_names is not None:
            # A previous run died between sending a batch and recording it.
            present = bound_names()
            done_now = [r.rel for r in todo if r.rel in present]
            self.journal.set_bind_state(session.id, done_now, resource_uuid, BIND_DONE)
            already += done_now
            todo = [r for r in todo if r.rel not in present]
        missing = self.confirm(session, todo)
        todo = [r for r in todo if r.rel not in set(missing)]
        rows_now = {r.rel: r for r in self.journal.files(session.id)}
        todo = [rows_now[r.rel] for r in todo]
        bound: list[str] = []
        tracker = ProgressTracker(self.on_progress, phase="bind", total_bytes=len(todo),
                                  files_total=len(todo))
        for i in range(0, len(todo), batch_size):
            batch = todo[i:i + batch_size]
            for attempt in range(1, attempts + 1):
                names = [r.rel for r in batch]
                self.journal.set_bind_state(session.id, names, resource_uuid, BIND_PENDING)
                try:
                    calls += 1
                    bind_batch(session.callback_param, batch)
                    break
                except TerranbError as exc:
                    if not is_transient_service_error(exc):
                        raise
                    if attempt == attempts:
                        # Left pending: the next run asks the service what got bound.
                        raise TransferError(f"binding files to {resource_uuid} failed "
                                            f"{attempts} times: {exc}") from exc
                    self._sleep(TRANSFERS.delay(attempt))
                    if bound_names is not None:
                        present = bound_names()
                        done_now = [n for n in names if n in present]
                        self.journal.set_bind_state(session.id, done_now, resource_uuid,
                                                    BIND_DONE)
                        bound += done_now
                        batch = [r for r in batch if r.rel not in present]
                        if not batch:
                            break
            names = [r.rel for r in batch]
            self.journal.set_bind_state(session.id, names, resource_uuid, BIND_DONE)
            bound += names
            for name in names:
                tracker.start_file(name, 1)
                tracker.finish_file(name)
        return BindResult(resource_uuid, sorted(bound), sorted(already), missing, calls)
