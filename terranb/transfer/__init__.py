"""Moving bytes between a data set folder, the service's object store and a result tree.

This is the only part of terranb that imports boto3 (lazily). It never imports
``terranb.api``: it receives :class:`~terranb.credentials.StorageCredentials`
(or a callable that returns fresh ones) and plain callables for binding and URL
renewal, so it works the same for TerraAPI, FlightHub 2 and the emulator.

* :mod:`.upload`   parallel, multipart, resumable uploads; binding in batches
* :mod:`.journal`  the SQLite journal that makes re-runs send only what is missing
* :mod:`.download` verified, resumable downloads of presigned URLs and objects
* :mod:`.s3client` boto3 clients and credential renewal
* :mod:`.progress` byte-level progress events
* :mod:`.zipper`   zip a result tree for DJI Terra; safe unzip
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Downloader",
    "Journal",
    "ProgressEvent",
    "RemoteFile",
    "Uploader",
    "download_object",
    "safe_extract",
    "zip_result_tree",
]

_LAZY = {
    "Downloader": "terranb.transfer.download",
    "RemoteFile": "terranb.transfer.download",
    "download_object": "terranb.transfer.download",
    "Journal": "terranb.transfer.journal",
    "ProgressEvent": "terranb.transfer.progress",
    "Uploader": "terranb.transfer.upload",
    "safe_extract": "terranb.transfer.zipper",
    "zip_result_tree": "terranb.transfer.zipper",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'terranb.transfer' has no attribute {name!r}")
