"""The protocol both services implement for the Job handle, and a factory.

A backend hides the differences between TerraAPI (resources, jobs, presigned
file URLs) and FlightHub 2 open modeling (client-made resource uuids, models,
one result zip in the bucket). :class:`~terranb.jobs.job.Job` only talks to
this protocol; the concrete classes live in :mod:`.terra_backend` and
:mod:`.flighthub_backend`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from terranb.credentials import StorageCredentials
from terranb.errors import ConfigError
from terranb.jobs.states import JobStatus
from terranb.transfer.journal import FileRow
from terranb.transfer.progress import ProgressCallback

__all__ = ["BACKENDS", "Backend", "account_tag", "make_backend"]

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

    def new_resource(self, name: str) -> str:
        """A resource uuid to bind files to."""
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


def account_tag(value: str) -> str:
    """A short, non-reversible tag of an account id for labels and the ledger."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def make_backend(kind: str, **client_kwargs: Any) -> Backend:
    """A backend of ``kind`` with a client built from settings (env, profile) and kwargs.

    Args:
        kind: ``"terra"`` (TerraAPI v2) or ``"flighthub"`` (FlightHub 2).
        client_kwargs: passed to :class:`~terranb.api.terra.TerraClient` or
            :class:`~terranb.api.flighthub.FlightHubClient` (e.g. ``base_url``).

    Example:
        >>> backend = make_backend("terra", base_url="http://127.0.0.1:8000")  # doctest: +SKIP
    """
    kind = (kind or "terra").lower()
    if kind in ("terra", "terraapi"):
        from terranb.api.terra import TerraClient
        from terranb.jobs.terra_backend import TerraBackend

        return TerraBackend(TerraClient(**client_kwargs))
    if kind in ("flighthub", "fh2", "flighthub2"):
        from terranb.api.flighthub import FlightHubClient
        from terranb.jobs.flighthub_backend import FlightHubBackend

        return FlightHubBackend(FlightHubClient(**client_kwargs))
    raise ConfigError(f"unknown backend {kind!r}; use 'terra' or 'flighthub'")
