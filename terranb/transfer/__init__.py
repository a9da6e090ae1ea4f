"""Moving bytes between a data set folder, the service's object store and a result tree.

This is the only part of terranb that imports boto3 (lazily). It never imports
``terranb.api``: it receives :class:`~terranb.credentials.StorageCredentials`
(or a callable that returns fresh ones) and plain callables for binding and URL
renewal, so it works the same for TerraAPI, FlightHub 2 and the emulator.

* :mod:`.upload`   parallel, multipart, resumable uploads; binding in batches
* :mod:`.journal`  the SQLite journal that makes re-runs send only what is missing
* :mod:`.download` verified, resumable downloads of presigned URLs
* :mod:`.object_download` one bucket object (FlightHub 2's result zip) with boto3
* :mod:`.ranged`   large files as parallel Range pieces, resumable piece by piece
* :mod:`.s3client` boto3 clients and credential renewal
* :mod:`.progress` byte-level progress events
* :mod:`.zipper`   zip a result tree for DJI Terra; safe unzip
"""

from __future__ import annotations

from terranb.lazy_exports import lazy_exports

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

__getattr__ = lazy_exports(__name__, {
    "Downloader": "download", "RemoteFile": "download", "download_object": "object_download",
    "Journal": "journal", "ProgressEvent": "progress", "Uploader": "upload",
    "safe_extract": "zipper", "zip_result_tree": "zipper",
})
