"""The protocol both services implement for the Job handle, and a factory.

A backend hides the differences between TerraAPI (resources, jobs, presigned
file URLs) and FlightHub 2 open modeling (client-made resource uuids, models,
one result zip in the bucket). :class:`~terranb.jobs.job.Job` only talks to
this protocol; the concrete classes live in :mod:`.terra_backend` and
:mod:`.flighthub_backend`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from terranb.credentials import StorageCredentials
from terranb.jobs.states import JobStatus
from terranb.transfer.journal import FileRow
from terranb.transfer.progress import ProgressCallback

__all__ = ["BACKENDS", "Backend"]

BACKENDS = ("terra", "flighthub")


@runtime_checkable
class Backend(Protocol):
    """What a reconstruction service offers the Job handle.

    Attributes:
        kind: ``"terra"`` or ``"flighthub"``.
        base_url: the service origin (recorded in the ledger for re-attaching).
        bind_batch_size: files per ``upload_callback`` call.
    """

    kind: str
    base_url: str
    bind_batch_size: int

    def label(self) -> str:
        """Journal label: service, origin and a hash of the account (no secret)."""
        ...

    def obtain_credentials(self) -> StorageCredentials:
        """Fresh STS credentials for uploads (``obtain_token``)."""
        ...

    def new_resource(self, name: str, store_path: str = "") -> str:
        """A resource uuid to bind files to (FlightHub 2: the batch id of ``store_path``)."""
        ...

    def bind(self, resource_uuid: str, callback_param: str, files: Sequence[FileRow],
             resource_name: str = "") -> None:
        """``upload_callback`` for one batch of uploaded files."""
        ...

    def bound_names(self, resource_uuid: str) -> set[str]:
        """Names of the files already bound to a resource."""
        ...

    def start(self, resource_uuid: str, job_type: int, parameters: str, name: str,
              kind: str = "") -> str:
        """Create and start a job on a resource; returns the job (or model) id."""
        ...

    def status(self, job_id: str) -> JobStatus:
        """The job's current status."""
        ...

    def cancel(self, job_id: str) -> None:
        """Stop a running job."""
        ...

    def list_remote(self, limit: int | None = None) -> Iterator[JobStatus]:
        """Jobs the service knows (TerraAPI: all jobs; FlightHub 2: running models)."""
        ...

    def download_results(self, status: JobStatus, dest: Path,
                         on_progress: ProgressCallback | None = None, *,
                         overwrite: bool = False, duplicates: str = "error") -> list[str]:
        """Download a finished job's result tree into ``dest``; returns relative paths.

        A different local file in the way is refused unless ``overwrite``; two different
        listed files of one name are refused unless ``duplicates="rename"``.
        """
        ...
