"""TerraAPI v2 behind the :class:`~terranb.jobs.backend.Backend` protocol.

Resource per data set, ``upload_callback`` in batches of 50 (DJI's examples),
job = create + start, results = the output resource's files downloaded from
their presigned URLs (renewed through ``GET /v2/files/{uuid}`` when expired).

The files of a resource come by DJI's documented path (seed 001, results
section): ``GET /v2/resources/{uuid}`` -> ``fileUuids`` -> ``GET /v2/files/{uuid}``.
The paged ``GET /v2/files?resourceUuid=&needURL=`` (query names from third-party
SDKs, protocol.md §1.5.5 [impl]) only saves the per-file calls: it is tried once
per client, checked against ``fileUuids``, and dropped for good when the server
answers it as an unsupported route.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from terranb.credentials import StorageCredentials
from terranb.errors import (
    InvalidOperationError,
    JobFailed,
    UnsupportedRouteError,
    is_transient_service_error,
)
from terranb.jobs.account import account_tag
from terranb.jobs.states import JobState, JobStatus, from_terra
from terranb.retry import NOT_FOUND, retry_call
from terranb.transfer.download import Downloader, RemoteFile
from terranb.transfer.journal import FileRow
from terranb.transfer.progress import ProgressCallback

__all__ = ["TerraBackend"]

log = logging.getLogger(__name__)

# The undocumented shortcut (one paged call for all files of a resource).
FILES_LIST_ROUTE = "GET /v2/files"
JOBS_LIST_ROUTE = "GET /v2/jobs"


class TerraBackend:
    """TerraAPI v2 for :class:`~terranb.jobs.job.Job`.

    Args:
        client: a :class:`~terranb.api.terra.TerraClient`.
        download_workers: result downloads in flight (files and pieces of large files);
            ``None`` (default) lets the downloader's concurrency tuner decide.
        sleep: injectable sleep for the start/create retries.
    """

    kind = "terra"
    bind_batch_size = 50

    def __init__(self, client: Any, *, download_workers: int | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.base_url = str(getattr(client, "base_url", ""))
        self.download_workers = download_workers
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"TerraBackend(base_url={self.base_url!r})"

    def label(self) -> str:
        """``terra:<origin>:<hash of app key>``."""
        return f"terra:{self.base_url}:{account_tag(str(getattr(self.client, 'app_key', '')))}"

    def obtain_credentials(self) -> StorageCredentials:
        """``POST /v2/store/obtain_token``."""
        return self.client.store.obtain_token()  # type: ignore[no-any-return]

    def new_resource(self, name: str, store_path: str = "") -> str:
        """``POST /v2/resources`` (type ``map``); ``store_path`` plays no part here."""
        # A lost answer leaves an empty resource behind at worst: retrying is safe.
        return str(self._retrying("create resource", lambda: self.client.resources.create(
            name or "terranb data set")).uuid)

    def bind(self, resource_uuid: str, callback_param: str, files: Sequence[FileRow],
             resource_name: str = "") -> None:
        """``POST /v2/store/upload_callback`` with name, etag and checksum (= etag)."""
        entries = [{"name": f.rel, "etag": f.etag, "checksum": f.etag} for f in files]
        self.client.store.upload_callback(resource_uuid, callback_param, entries,
                                          batch_size=max(1, len(entries)))

    def bound_names(self, resource_uuid: str) -> set[str]:
        """Names of the files of a resource (documented path, see :meth:`resource_files`)."""
        return {f.name for f in self.resource_files(resource_uuid)}

    def _offers(self, route: str) -> bool:
        offers = getattr(self.client, "offers", None)
        return bool(offers(route)) if callable(offers) else True

    def _unsupported(self, route: str, exc: UnsupportedRouteError) -> None:
        mark = getattr(self.client, "mark_unsupported", None)
        if callable(mark):
            mark(route)
        log.info("%s is not offered by %s (%s); using the documented path",
                 route, self.base_url, exc.message)

    def resource_files(self, resource_uuid: str, *, need_url: bool = False) -> list[Any]:
        """The File objects of a resource, in ``fileUuids`` order.

        ``GET /v2/resources/{uuid}`` gives the authoritative ``fileUuids``; their
        details come from the paged list query when the server offers it (every
        listed uuid is checked against ``fileUuids``), else, or for any file the
        list left out or gave without a URL, from ``GET /v2/files/{uuid}``.
        """
        detail = self._retrying("resource detail",
                                lambda: self.client.resources.get(resource_uuid))
        uuids = [u for u in detail.file_uuids if u]
        known: dict[str, Any] = {}
        if uuids and self._offers(FILES_LIST_ROUTE):
            try:
                wanted = set(uuids)
                known = {f.uuid: f for f in self._retrying("list files", lambda: list(
                    self.client.files.list(resource_uuid=resource_uuid, need_url=need_url)))
                    if f.uuid in wanted}
            except UnsupportedRouteError as exc:
                self._unsupported(FILES_LIST_ROUTE, exc)
        todo = [u for u in uuids if u not in known or (need_url and not known[u].url)]
        if todo:
            def one(uuid: str) -> Any:
                return self._retrying("file detail", lambda: self.client.files.get(uuid))

            with ThreadPoolExecutor(max_workers=max(1, min(self.download_workers or 4,
                                                           len(todo)))) as pool:
                for uuid, f in zip(todo, pool.map(one, todo), strict=True):
                    known[uuid] = f
        return [known[u] for u in uuids]

    def _retrying(self, what: str, fn: Callable[[], Any],
                  reconcile: Callable[[], Any] | None = None) -> Any:
        return retry_call(fn, retryable=is_transient_service_error, what=what,
                          sleep=self._sleep, reconcile=reconcile)

    def _create(self, name: str) -> str:
        def adopt() -> Any:
            # The job may exist although the answer was lost: adopt it, do not duplicate.
            # Listing jobs is undocumented ([impl]); without it a retry may leave an
            # empty, never-started job behind, which costs nothing.
            if not self._offers(JOBS_LIST_ROUTE):
                return NOT_FOUND
            try:
                for job in self.client.jobs.list(search=name, limit=20):
                    if job.name == name and int(job.status) == 0:
                        return str(job.uuid)
            except UnsupportedRouteError as exc:
                self._unsupported(JOBS_LIST_ROUTE, exc)
            return NOT_FOUND

        return str(self._retrying("create job", lambda: self.client.jobs.create(name).uuid,
                                  reconcile=adopt))

    def start(self, resource_uuid: str, job_type: int, parameters: str, name: str,
              kind: str = "") -> str:
        """``POST /v2/jobs`` then ``POST /v2/jobs/{uuid}/start``; a lost answer is checked."""
        job_id = self._create(name)

        def send() -> str:
            try:
                self.client.jobs.start(job_id, job_type, resource_uuid, parameters)
            except InvalidOperationError:
                # A retry after a lost answer: the service refuses a second start.
                if int(self.client.jobs.get(job_id).status) == 0:
                    raise
            return job_id

        def started() -> Any:
            return job_id if int(self.client.jobs.get(job_id).status) != 0 else NOT_FOUND

        return str(self._retrying("start job", send, reconcile=started))

    def status(self, job_id: str) -> JobStatus:
        """``GET /v2/jobs/{uuid}``."""
        return from_terra(self.client.jobs.get(job_id))

    def cancel(self, job_id: str) -> None:
        """``POST /v2/jobs/{uuid}/stop`` ([impl]: DJI documents no stop route)."""
        try:
            self._retrying("stop", lambda: self.client.jobs.stop(job_id))
        except UnsupportedRouteError as exc:
            raise UnsupportedRouteError(
                f"the server does not offer stopping jobs (HTTP {exc.status_code} on "
                f"POST /v2/jobs/{job_id}/stop); job {job_id} was not stopped and keeps its "
                "state", status_code=exc.status_code, route=exc.route, body=exc.body,
                hint="stop it in the service's own console, or let it finish") from exc

    def list_remote(self, limit: int | None = None) -> Iterator[JobStatus]:
        """``GET /v2/jobs`` over all pages ([impl]; no documented alternative)."""
        try:
            for job in self.client.jobs.list(limit=limit):
                yield from_terra(job)
        except UnsupportedRouteError as exc:
            raise UnsupportedRouteError(
                f"the server does not offer listing jobs (HTTP {exc.status_code} on GET "
                "/v2/jobs)", status_code=exc.status_code, route=exc.route, body=exc.body,
                hint="jobs submitted from here are in the ledger: `terranb jobs list` "
                     "without --remote, or `terranb jobs show UUID` for one job") from exc

    def output_files(self, status: JobStatus) -> list[RemoteFile]:
        """The output resource's files with presigned URLs (documented path first)."""
        if not status.output_ref:
            raise JobFailed(f"job {status.job_id} has no output resource yet "
                            f"({status.describe()})", job=status)
        files = self.resource_files(status.output_ref, need_url=True)
        return [RemoteFile(f.name, int(f.size) if f.size else None, f.checksum or None,
                           f.url or None, f.uuid) for f in files]

    def download_results(self, status: JobStatus, dest: Path,
                         on_progress: ProgressCallback | None = None, *,
                         overwrite: bool = False, duplicates: str = "error") -> list[str]:
        """Download every output file into ``dest`` (resumable, verified)."""
        if status.state is not JobState.SUCCEEDED:
            raise JobFailed(f"job {status.job_id} has not succeeded ({status.describe()}); "
                            "there are no results to download", job=status)
        files = self.output_files(status)
        downloader = Downloader(renew=lambda f: str(self.client.files.get(f.ref).url),
                                workers=self.download_workers, on_progress=on_progress)
        return downloader.download(files, dest, overwrite=overwrite,
                                   duplicates=duplicates).files
