"""TerraAPI v2 behind the :class:`~terranb.jobs.backend.Backend` protocol.

Resource per data set, ``upload_callback`` in batches of 50 (DJI's examples),
job = create + start, results = the output resource's files downloaded from
their presigned URLs (renewed through ``GET /v2/files/{uuid}`` when expired).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from terranb.credentials import StorageCredentials
from terranb.errors import InvalidOperationError, JobFailed, TerranbError
from terranb.jobs.backend import account_tag
from terranb.jobs.states import JobState, JobStatus, from_terra
from terranb.transfer.download import Downloader, RemoteFile
from terranb.transfer.journal import FileRow
from terranb.transfer.progress import ProgressCallback
from terranb.transfer.upload import is_transient_service_error as _transient

__all__ = ["TerraBackend"]

log = logging.getLogger(__name__)


class TerraBackend:
    """TerraAPI v2 for :class:`~terranb.jobs.job.Job`.

    Args:
        client: a :class:`~terranb.api.terra.TerraClient`.
        download_workers: parallel result downloads.
        sleep: injectable sleep for the start/create retries.
    """

    kind = "terra"
    bind_batch_size = 50

    def __init__(self, client: Any, *, download_workers: int = 4,
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

    def new_resource(self, name: str) -> str:
        """``POST /v2/resources`` (type ``map``)."""
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
        """Names of the files of a resource (``GET /v2/files?resourceUuid=``)."""
        return self._retrying("list bound files", lambda: {
            f.name for f in self.client.files.list(resource_uuid=resource_uuid)})

    def _retrying(self, what: str, fn: Callable[[], Any], attempts: int = 5) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except TerranbError as exc:
                if not _transient(exc) or attempt == attempts:
                    raise
                log.info("%s failed (%s); retrying", what, exc)
                self._sleep(min(10.0, 0.5 * 2 ** attempt))
        raise AssertionError("unreachable")

    def _create(self, name: str) -> str:
        for attempt in range(1, 6):
            try:
                return str(self.client.jobs.create(name).uuid)
            except TerranbError as exc:
                if not _transient(exc) or attempt == 5:
                    raise
                self._sleep(min(10.0, 0.5 * 2 ** attempt))
                # The job may exist although the answer was lost: adopt it, do not duplicate.
                try:
                    for job in self.client.jobs.list(search=name, limit=20):
                        if job.name == name and int(job.status) == 0:
                            return str(job.uuid)
                except TerranbError as exc2:
                    if not _transient(exc2):
                        raise
        raise AssertionError("unreachable")

    def start(self, resource_uuid: str, job_type: int, parameters: str, name: str,
              kind: str = "") -> str:
        """``POST /v2/jobs`` then ``POST /v2/jobs/{uuid}/start``; a lost answer is checked."""
        job_id = self._create(name)
        for attempt in range(1, 6):
            try:
                self.client.jobs.start(job_id, job_type, resource_uuid, parameters)
                return job_id
            except InvalidOperationError:
                # A retry after a lost answer: the service refuses a second start.
                if int(self.client.jobs.get(job_id).status) != 0:
                    return job_id
                raise
            except TerranbError as exc:
                if not _transient(exc) or attempt == 5:
                    raise
                self._sleep(min(10.0, 0.5 * 2 ** attempt))
                try:
                    if int(self.client.jobs.get(job_id).status) != 0:
                        return job_id
                except TerranbError as exc2:
                    if not _transient(exc2):
                        raise
        return job_id

    def status(self, job_id: str) -> JobStatus:
        """``GET /v2/jobs/{uuid}``."""
        return from_terra(self.client.jobs.get(job_id))

    def cancel(self, job_id: str) -> None:
        """``POST /v2/jobs/{uuid}/stop``."""
        self._retrying("stop", lambda: self.client.jobs.stop(job_id))

    def list_remote(self, limit: int | None = None) -> Iterator[JobStatus]:
        """``GET /v2/jobs`` over all pages."""
        for job in self.client.jobs.list(limit=limit):
            yield from_terra(job)

    def output_files(self, status: JobStatus) -> list[RemoteFile]:
        """The output resource's files with presigned URLs (paged ``GET /v2/files``)."""
        if not status.output_ref:
            raise JobFailed(f"job {status.job_id} has no output resource yet "
                            f"({status.describe()})", job=status)
        files = self._retrying("list output files", lambda: list(
            self.client.files.list(resource_uuid=status.output_ref, need_url=True)))
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
