"""FlightHub 2 open modeling behind the :class:`~terranb.jobs.backend.Backend` protocol.

FlightHub 2 has no "create resource" call: the resource uuid is the batch id in
the ``store_path`` of ``obtain_token`` (``.../open_reconstruction/tmp/<batch>/{fileName}``,
found live by flighthub2-cli), and the first ``upload_callback`` naming it creates
the resource. Files are bound in batches of 100, the live per-call maximum.
A model's results are one zip at ``zip_file_key`` in the bucket of
``obtain_token``; :meth:`FlightHubBackend.download_results` fetches it with
fresh STS credentials and unpacks it safely.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from terranb.api.flighthub import MAX_CALLBACK_FILES, batch_uuid
from terranb.credentials import StorageCredentials
from terranb.errors import (
    JobFailed,
    NotFoundError,
    ServerError,
    ValidationError,
    is_transient_service_error,
)
from terranb.jobs.account import account_tag
from terranb.jobs.states import JobState, JobStatus, from_fh2
from terranb.retry import NOT_FOUND, retry_call
from terranb.transfer.download import download_object
from terranb.transfer.journal import FileRow
from terranb.transfer.progress import ProgressCallback
from terranb.transfer.zipper import safe_extract

__all__ = ["FlightHubBackend"]

log = logging.getLogger(__name__)

_PARAM_FIELD = {14: "parameter_2d", 15: "parameter_3d", 13: "parameter_lidar",
                "2d": "parameter_2d", "3d": "parameter_3d", "lidar": "parameter_lidar",
                "3dgs": "parameter_3dgs"}
_MODEL_KEY = {"parameter_2d": "model_2d", "parameter_3d": "model_3d",
              "parameter_lidar": "model_lidar", "parameter_3dgs": "model_3dgs"}


class _Adopted:
    """A model a lost start answer did start (found by reconciling)."""

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid


class FlightHubBackend:
    """FlightHub 2 open modeling for :class:`~terranb.jobs.job.Job`.

    Args:
        client: a :class:`~terranb.api.flighthub.FlightHubClient`.
        sleep: injectable sleep for retries.
    """

    kind = "flighthub"
    bind_batch_size = MAX_CALLBACK_FILES

    def __init__(self, client: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.base_url = str(getattr(client, "base_url", ""))
        self._sleep = sleep
        self._names: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"FlightHubBackend(base_url={self.base_url!r})"

    def label(self) -> str:
        """``flighthub:<origin>:<hash of project uuid>``."""
        project = str(getattr(self.client, "project_uuid", ""))
        return f"flighthub:{self.base_url}:{account_tag(project)}"

    def obtain_credentials(self) -> StorageCredentials:
        """``POST /open_model/stores/obtain_token``."""
        return self.client.obtain_token()  # type: ignore[no-any-return]

    def new_resource(self, name: str, store_path: str = "") -> str:
        """The batch id of the upload's ``store_path``; the first bind creates the resource.

        Raises:
            ValidationError: no ``store_path`` (FlightHub 2 resources exist only as
                the batch of an upload).
        """
        if not store_path:
            raise ValidationError("a FlightHub 2 resource is the batch of an upload: give the "
                                  "store_path of the obtain_token the files were uploaded with")
        rid = batch_uuid(store_path)
        self._names[rid] = name
        return rid

    def bind(self, resource_uuid: str, callback_param: str, files: Sequence[FileRow],
             resource_name: str = "") -> None:
        """``POST /open_model/stores/upload_callback`` with name and etag."""
        entries = [{"name": f.rel, "etag": f.etag} for f in files]
        name = resource_name or self._names.get(resource_uuid) or None
        self.client.upload_callback(resource_uuid, callback_param, entries, resource_name=name,
                                    batch_size=max(1, len(entries)))

    def _retrying(self, what: str, fn: Callable[[], Any],
                  reconcile: Callable[[], Any] | None = None) -> Any:
        return retry_call(fn, retryable=is_transient_service_error, what=what,
                          sleep=self._sleep, reconcile=reconcile)

    def bound_names(self, resource_uuid: str) -> set[str]:
        """``GET /open_model/resource/{uuid}`` file names (empty before the first bind)."""
        def names() -> set[str]:
            try:
                return set(self.client.get_resource(resource_uuid).file_names)
            except NotFoundError:
                return set()

        return self._retrying("list bound files", names)

    def start(self, resource_uuid: str, job_type: int, parameters: str, name: str,
              kind: str = "") -> str:
        """``POST /open_model/models/reconstruction/start`` with one ``parameter_*``."""
        field = _PARAM_FIELD.get(kind) or _PARAM_FIELD.get(job_type)
        if field is None:
            raise ValidationError(f"FlightHub 2 cannot build job type {kind or job_type!r}; "
                                  "use 2d, 3d, lidar or 3dgs")

        def started_elsewhere() -> Any:
            # A second start would build (and bill) a second model: first look for a model
            # the lost answer may have started on this resource.
            for model in self.client.running_models():
                if model.resource_uuid == resource_uuid:
                    return _Adopted(str(model.model_uuid))
            return NOT_FOUND

        refs = self._retrying("start model", lambda: self.client.start_reconstruction(
            resource_uuid, **{field: parameters}), reconcile=started_elsewhere)
        if isinstance(refs, _Adopted):
            return refs.uuid
        ref = refs.get(_MODEL_KEY[field]) or next(iter(refs.values()), None)
        if ref is None:
            raise ServerError("start_reconstruction answered without a model uuid")
        return str(ref.uuid)

    def status(self, job_id: str) -> JobStatus:
        """``GET /open_model/models/{uuid}``."""
        return from_fh2(self.client.get_model(job_id))

    def cancel(self, job_id: str) -> None:
        """``POST /open_model/models/{uuid}/reconstruction/stop``."""
        self._retrying("stop model", lambda: self.client.stop_model(job_id))

    def list_remote(self, limit: int | None = None) -> Iterator[JobStatus]:
        """``GET /open_model/models/running`` (FlightHub 2 lists only running models)."""
        for i, model in enumerate(self.client.running_models()):
            if limit is not None and i >= limit:
                return
            yield from_fh2(model)

    def download_results(self, status: JobStatus, dest: Path,
                         on_progress: ProgressCallback | None = None, *,
                         overwrite: bool = False, duplicates: str = "error") -> list[str]:
        """Fetch ``zip_file_key`` with fresh STS credentials and unpack it into ``dest``."""
        if status.state is not JobState.SUCCEEDED or not status.output_ref:
            raise JobFailed(f"model {status.job_id} has no result zip ({status.describe()})",
                            job=status)
        dest.mkdir(parents=True, exist_ok=True)
        marker = dest / f".terranb-{status.job_id}.json"
        if marker.is_file():  # unpacked before: nothing to fetch if every file is there
            names = json.loads(marker.read_text(encoding="utf-8"))
            if all((dest / n).is_file() for n in names):
                return list(names)
        archive = dest / f".terranb-{status.job_id}.zip"
        download_object(self.obtain_credentials, status.output_ref, archive,
                        on_progress=on_progress)
        try:
            names = sorted(n for n in safe_extract(archive, dest, overwrite=overwrite,
                                                   duplicates=duplicates)
                           if not n.endswith("/"))
        finally:
            archive.unlink(missing_ok=True)
        tmp = marker.with_name(marker.name + ".part")
        tmp.write_text(json.dumps(names), encoding="utf-8")
        os.replace(tmp, marker)
        return names
