"""The run card: what was run, on which data, with what result -- enough to reproduce it.

A run card records the backend, each job's ids and parameters, SHA-256
checksums of the inputs and of the outputs, and timings. The demo and the
widgets write it as ``runcard.json`` at the root of a results folder; the
survey report reads it back and prints it. Checksums of outputs can always be
recomputed from the files (:func:`file_checksums`), so a report of a folder
without a run card still lists them.

Example:
    >>> card = RunCard(backend="terra")
    >>> card.add_timing("upload", 1.25)
    >>> RunCard.from_dict(card.to_dict()).timings
    {'upload': 1.25}
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb._version import __version__

if TYPE_CHECKING:
    from terranb.jobs.ledger import LedgerRecord

__all__ = [
    "RUNCARD_NAME", "FileSum", "JobRecord", "RunCard", "file_checksums", "sha256_file", "utc_iso",
]

RUNCARD_NAME = "runcard.json"
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class FileSum:
    """A file's relative path, size and SHA-256."""

    path: str
    size: int
    sha256: str


def file_checksums(root: str | os.PathLike[str],
                   files: Iterable[str | os.PathLike[str]] | None = None, *,
                   skip: Iterable[str] = (RUNCARD_NAME,)) -> list[FileSum]:
    """Checksums of ``files`` (default: every file under ``root``), paths relative to ``root``.

    A relative path in ``files`` is a path like any other (relative to the working
    directory, as ``Path(root).rglob`` yields them); only one that does not exist so is
    taken as a name inside ``root``. Joining such paths onto ``root`` a second time made
    ``terranb demo --out demo-out`` look for ``demo-out/flight/demo-out/flight/...``.
    Hidden files, ``.part`` leftovers and the names in ``skip`` are left out.
    """
    # absolute forms on both sides, so relative_to works whatever mix the caller passes
    base = Path(os.path.abspath(root))
    skipped = set(skip)
    if files is None:
        if base.is_file():
            candidates = [base]
            base = base.parent
        else:
            candidates = sorted(p for p in base.rglob("*") if p.is_file())
    else:
        candidates = [_as_given_or_in(base, Path(f)) for f in files]
    out: list[FileSum] = []
    for p in candidates:
        rel = p.relative_to(base).as_posix() if p.is_relative_to(base) else p.name
        if (p.name in skipped or p.name.endswith(".part")
                or any(part.startswith(".") for part in Path(rel).parts)):
            continue
        out.append(FileSum(rel, p.stat().st_size, sha256_file(p)))
    return out


def _as_given_or_in(base: Path, path: Path) -> Path:
    """``path`` made absolute: as given when it exists so, else as a name under ``base``."""
    if path.is_absolute() or path.exists():
        return Path(os.path.abspath(path))
    return base / path


@dataclass
class JobRecord:
    """One job of the run.

    Attributes:
        uuid: job (TerraAPI) or model (FlightHub 2) uuid.
        job_type: ``2d``, ``3d``, ``lidar``.
        backend: ``terra`` or ``flighthub``.
        name: job name.
        parameters: the parameters sent (parsed JSON when possible).
        status: final status word.
        resource_uuid: input resource; ``output_resource_uuid``: output resource.
        submitted_at, started_at, finished_at: ISO-8601 UTC times.
        results_dir: where the results were downloaded (relative to the card).
        timings: seconds per step (upload, processing, download).
    """

    uuid: str
    job_type: str = ""
    backend: str = ""
    name: str = ""
    parameters: Any = None
    status: str = ""
    resource_uuid: str = ""
    output_resource_uuid: str = ""
    submitted_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    results_dir: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_ledger(cls, record: LedgerRecord, **changes: Any) -> JobRecord:
        """The card's entry for a job of the ledger: its ids, parameters, last state seen and
        times as the ledger has them. ``changes`` set what the card says otherwise (say a
        ``results_dir`` relative to the card instead of where the ledger saw a download)."""
        values: dict[str, Any] = dict(
            uuid=record.job_id, job_type=record.job_type, backend=record.backend,
            name=record.name, parameters=record.parameters, status=record.state,
            resource_uuid=record.resource_uuid, output_resource_uuid=record.output_ref,
            submitted_at=utc_iso(record.submitted_at),
            started_at=utc_iso(record.started_at) if record.started_at else "",
            finished_at=utc_iso(record.finished_at) if record.finished_at else "",
            results_dir=record.results_dir)
        return cls(**{**values, **changes})


def utc_iso(ts: float | None = None) -> str:
    """ISO-8601 UTC time to the second, of now or of unix time ``ts``: how run cards and
    reports write their times."""
    when = datetime.now(timezone.utc) if ts is None else datetime.fromtimestamp(ts, timezone.utc)
    return when.replace(microsecond=0).isoformat()


@dataclass
class RunCard:
    """Backend, jobs, parameters, input and output checksums and timings of one run."""

    backend: str = ""
    service_url: str = ""
    created_at: str = field(default_factory=utc_iso)
    terranb_version: str = __version__
    python: str = field(default_factory=lambda: sys.version.split()[0])
    platform: str = field(default_factory=platform.platform)
    jobs: list[JobRecord] = field(default_factory=list)
    inputs: list[FileSum] = field(default_factory=list)
    outputs: list[FileSum] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def add_timing(self, step: str, seconds: float) -> None:
        """Record how long ``step`` took (rounded to milliseconds)."""
        self.timings[step] = round(float(seconds), 3)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no secrets: a run card never holds credentials)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunCard:
        """Read a run card written by :meth:`to_dict` (unknown keys kept in ``notes``)."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["jobs"] = [JobRecord(**{k: v for k, v in j.items()
                                       if k in JobRecord.__dataclass_fields__})
                          for j in data.get("jobs", [])]
        kwargs["inputs"] = [FileSum(**f) for f in data.get("inputs", [])]
        kwargs["outputs"] = [FileSum(**f) for f in data.get("outputs", [])]
        card = cls(**kwargs)
        extra = {k: v for k, v in data.items() if k not in known}
        if extra:
            card.notes.update(extra)
        return card

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the card as JSON atomically; ``path`` may be a folder (-> runcard.json)."""
        out = Path(path)
        if out.is_dir():
            out = out / RUNCARD_NAME
        part = out.with_name(out.name + ".part")
        part.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(part, out)
        return out

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunCard:
        """Read ``runcard.json`` (or the file named)."""
        p = Path(path)
        if p.is_dir():
            p = p / RUNCARD_NAME
        return cls.from_dict(json.loads(p.read_text(encoding="utf-8")))

    @classmethod
    def find(cls, results: str | os.PathLike[str]) -> RunCard | None:
        """The run card of a results folder (itself or its parent), or ``None``."""
        found = cls.locate(results)
        return None if found is None else cls.read(found)

    @staticmethod
    def locate(results: str | os.PathLike[str]) -> Path | None:
        """Path of the ``runcard.json`` that covers ``results`` (in it or its parent)."""
        p = Path(results)
        for folder in (p, p.parent):
            if (folder / RUNCARD_NAME).is_file():
                return folder / RUNCARD_NAME
        return None
