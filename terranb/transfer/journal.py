"""The upload journal: what is already in the bucket, so a re-run sends only what is missing.

One SQLite file (default ``<user data dir>/terranb/upload-journal.sqlite3``,
``TERRANB_JOURNAL_DIR`` or an explicit path overrides it) holds:

* ``sessions``: one per (data set folder, target) with the *pinned* target of
  the first token (bucket, key template, callback parameter), the resource the
  files were bound to and the data set fingerprint;
* ``files``: one row per file: path, size, mtime, sha256, md5, object key,
  multipart upload id, final ETag, whether the object was confirmed in the
  bucket and to which resource it is bound (``bind_state`` 0 none, 1 pending,
  2 bound);
* ``parts``: finished parts of multipart uploads (number, ETag, size);
* ``inflight``: parts and objects being sent right now (what a crash loses);
* ``runs``: one per :meth:`Journal.start_run`, with the bytes sent and skipped.

Every change is committed at once (WAL mode), so a SIGKILL loses at most the
transfers in flight. The callback parameter is stored so that files uploaded
before a crash can still be bound afterwards; the file is created with mode
0600 and holds no STS keys.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from terranb.closing import Closable

__all__ = ["FileRow", "Journal", "PartRow", "RunStats", "SessionRow", "default_journal_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    root TEXT NOT NULL,
    label TEXT NOT NULL,
    provider TEXT NOT NULL,
    endpoint TEXT,
    bucket TEXT NOT NULL,
    store_path TEXT NOT NULL,
    callback_param TEXT NOT NULL DEFAULT '',
    resource_uuid TEXT,
    fingerprint TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_root ON sessions(root, label);
CREATE TABLE IF NOT EXISTS files (
    session_id INTEGER NOT NULL,
    rel TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    md5 TEXT NOT NULL,
    key TEXT NOT NULL,
    upload_id TEXT,
    etag TEXT,
    uploaded_at REAL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    bound_resource TEXT,
    bind_state INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, rel)
);
CREATE TABLE IF NOT EXISTS parts (
    session_id INTEGER NOT NULL,
    rel TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (session_id, rel, upload_id, part_number)
);
CREATE TABLE IF NOT EXISTS inflight (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    session_id INTEGER NOT NULL,
    rel TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    started_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    bytes_sent INTEGER NOT NULL DEFAULT 0,
    bytes_skipped INTEGER NOT NULL DEFAULT 0,
    files_sent INTEGER NOT NULL DEFAULT 0,
    files_skipped INTEGER NOT NULL DEFAULT 0,
    orphans_aborted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    md5 TEXT NOT NULL
);
"""

BIND_NONE, BIND_PENDING, BIND_DONE = 0, 1, 2


def default_journal_path() -> Path:
    """``$TERRANB_JOURNAL_DIR/upload-journal.sqlite3`` or the platform's user data dir."""
    env = os.environ.get("TERRANB_JOURNAL_DIR")
    if env:
        base = Path(env)
    else:
        from platformdirs import user_data_dir

        base = Path(user_data_dir("terranb", appauthor=False))
    return base / "upload-journal.sqlite3"


@dataclass(frozen=True)
class SessionRow:
    """A pinned upload target for one data set folder."""

    id: int
    root: str
    label: str
    provider: str
    endpoint: str | None
    bucket: str
    store_path: str
    callback_param: str
    resource_uuid: str | None
    fingerprint: str | None

    def key_for(self, rel: str) -> str:
        """Object key of ``rel`` under this session's key template."""
        rel = rel.replace("\\", "/").lstrip("/")
        if "{fileName}" in self.store_path:
            return self.store_path.replace("{fileName}", rel)
        return f"{self.store_path.rstrip('/')}/{rel}" if self.store_path else rel

    @property
    def prefix(self) -> str:
        """Key prefix of every object of this session (for listing orphan uploads)."""
        return self.store_path.split("{fileName}")[0]


@dataclass(frozen=True)
class FileRow:
    """The journal's knowledge about one file."""

    rel: str
    size: int
    mtime_ns: int
    sha256: str
    md5: str
    key: str
    upload_id: str | None
    etag: str | None
    confirmed: bool
    bound_resource: str | None
    bind_state: int

    @property
    def uploaded(self) -> bool:
        """True once the object was stored completely."""
        return bool(self.etag)


@dataclass(frozen=True)
class PartRow:
    """A finished part of a multipart upload."""

    part_number: int
    etag: str
    size: int


@dataclass(frozen=True)
class RunStats:
    """Bytes and files one run sent and skipped."""

    id: int
    session_id: int
    pid: int
    started_at: float
    finished_at: float | None
    bytes_sent: int
    bytes_skipped: int
    files_sent: int
    files_skipped: int
    orphans_aborted: int
    inflight_bytes: int


def hash_file(path: Path, chunk: int = 1 << 20) -> tuple[str, str]:
    """``(sha256, md5)`` hex digests of a file, read once in 1 MiB chunks."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


class Journal(Closable):
    """SQLite journal of uploads; safe to share between the threads of one process.

    Args:
        path: database file; ``None`` for :func:`default_journal_path`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_journal_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0,
                                   isolation_level=None)
        if fresh:
            try:
                os.chmod(self.path, 0o600)  # it holds callback parameters
            except OSError:
                pass
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Iterable[object] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # -- sessions -------------------------------------------------------------------------
    def find_session(self, root: str, label: str) -> SessionRow | None:
        """The newest session of ``root`` for ``label``, or ``None``."""
        rows = self._query("SELECT id, root, label, provider, endpoint, bucket, store_path, "
                           "callback_param, resource_uuid, fingerprint FROM sessions "
                           "WHERE root=? AND label=? ORDER BY id DESC LIMIT 1", (root, label))
        return SessionRow(*rows[0]) if rows else None

    def get_session(self, session_id: int) -> SessionRow:
        """A session by id."""
        rows = self._query("SELECT id, root, label, provider, endpoint, bucket, store_path, "
                           "callback_param, resource_uuid, fingerprint FROM sessions WHERE id=?",
                           (session_id,))
        if not rows:
            raise KeyError(f"no upload session {session_id} in {self.path}")
        return SessionRow(*rows[0])

    def new_session(self, root: str, label: str, *, provider: str, endpoint: str | None,
                    bucket: str, store_path: str, callback_param: str) -> SessionRow:
        """Pin a new target for ``root``."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO sessions (root, label, provider, endpoint, bucket, store_path, "
                "callback_param, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (root, label, provider, endpoint, bucket, store_path, callback_param, time.time()))
            sid = int(cur.lastrowid or 0)
        return self.get_session(sid)

    def set_resource(self, session_id: int, resource_uuid: str | None,
                     fingerprint: str | None = None) -> None:
        """Remember the resource the session's files are bound to, and the data set fingerprint."""
        with self._tx() as db:
            db.execute("UPDATE sessions SET resource_uuid=?, fingerprint=COALESCE(?, fingerprint) "
                       "WHERE id=?", (resource_uuid, fingerprint, session_id))

    def find_resource(self, label: str, fingerprint: str) -> SessionRow | None:
        """A session of ``label`` whose bound files have this fingerprint (for reuse)."""
        rows = self._query("SELECT id FROM sessions WHERE label=? AND fingerprint=? AND "
                           "resource_uuid IS NOT NULL ORDER BY id DESC", (label, fingerprint))
        for (sid,) in rows:
            files = self.files(sid)
            if files and all(f.bind_state == BIND_DONE for f in files):
                return self.get_session(sid)
        return None

    # -- hashes ---------------------------------------------------------------------------
    def cached_hash(self, path: str, size: int, mtime_ns: int) -> tuple[str, str] | None:
        """``(sha256, md5)`` of ``path`` if it is unchanged since it was hashed."""
        rows = self._query("SELECT sha256, md5 FROM hashes WHERE path=? AND size=? AND mtime_ns=?",
                           (path, size, mtime_ns))
        return (rows[0][0], rows[0][1]) if rows else None

    def store_hashes(self, items: Iterable[tuple[str, int, int, str, str]]) -> None:
        """Cache ``(path, size, mtime_ns, sha256, md5)`` tuples."""
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?)", list(items))

    # -- files ----------------------------------------------------------------------------
    _FILE_COLS = ("rel, size, mtime_ns, sha256, md5, key, upload_id, etag, confirmed, "
                  "bound_resource, bind_state")

    def _file(self, row: tuple) -> FileRow:
        r = list(row)
        r[8] = bool(r[8])
        return FileRow(*r)

    def file(self, session_id: int, rel: str) -> FileRow | None:
        """The row of one file."""
        rows = self._query(f"SELECT {self._FILE_COLS} FROM files WHERE session_id=? AND rel=?",
                           (session_id, rel))
        return self._file(rows[0]) if rows else None

    def files(self, session_id: int) -> list[FileRow]:
        """Every file row of a session, by path."""
        return [self._file(r) for r in self._query(
            f"SELECT {self._FILE_COLS} FROM files WHERE session_id=? ORDER BY rel", (session_id,))]

    def put_file(self, session_id: int, rel: str, *, size: int, mtime_ns: int, sha256: str,
                 md5: str, key: str) -> FileRow:
        """Record a file to upload; a changed file (other content) starts over."""
        old = self.file(session_id, rel)
        with self._tx() as db:
            if old is not None and old.sha256 == sha256 and old.size == size and old.key == key:
                if old.mtime_ns != mtime_ns:
                    db.execute("UPDATE files SET mtime_ns=? WHERE session_id=? AND rel=?",
                               (mtime_ns, session_id, rel))
            else:
                db.execute("DELETE FROM parts WHERE session_id=? AND rel=?", (session_id, rel))
                db.execute("INSERT OR REPLACE INTO files (session_id, rel, size, mtime_ns, sha256, "
                           "md5, key) VALUES (?,?,?,?,?,?,?)",
                           (session_id, rel, size, mtime_ns, sha256, md5, key))
        row = self.file(session_id, rel)
        assert row is not None
        return row

    def set_upload_id(self, session_id: int, rel: str, upload_id: str | None) -> None:
        """Remember (or forget) the multipart upload id of a file; forgetting drops its parts."""
        with self._tx() as db:
            db.execute("UPDATE files SET upload_id=? WHERE session_id=? AND rel=?",
                       (upload_id, session_id, rel))
            if upload_id is None:
                db.execute("DELETE FROM parts WHERE session_id=? AND rel=?", (session_id, rel))

    def parts(self, session_id: int, rel: str, upload_id: str) -> dict[int, PartRow]:
        """Finished parts of a multipart upload, by part number."""
        return {r[0]: PartRow(*r) for r in self._query(
            "SELECT part_number, etag, size FROM parts "
            "WHERE session_id=? AND rel=? AND upload_id=?",
            (session_id, rel, upload_id))}

    def add_part(self, session_id: int, rel: str, upload_id: str, part: PartRow,
                 run_id: int, inflight_id: int) -> None:
        """Record a finished part, count its bytes for the run, clear its in-flight row."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?,?)",
                       (session_id, rel, upload_id, part.part_number, part.etag, part.size))
            db.execute("UPDATE runs SET bytes_sent=bytes_sent+? WHERE id=?", (part.size, run_id))
            db.execute("DELETE FROM inflight WHERE id=?", (inflight_id,))

    def adopt_part(self, session_id: int, rel: str, upload_id: str, part: PartRow) -> None:
        """Record a part found finished in the store (sent by a run that crashed)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?,?)",
                       (session_id, rel, upload_id, part.part_number, part.etag, part.size))

    def finish_file(self, session_id: int, rel: str, etag: str, run_id: int,
                    sent_bytes: int = 0, inflight_id: int | None = None) -> None:
        """The object is complete: store its ETag; ``sent_bytes`` counts for the run."""
        with self._tx() as db:
            db.execute("UPDATE files SET etag=?, uploaded_at=?, confirmed=0 "
                       "WHERE session_id=? AND rel=?", (etag, time.time(), session_id, rel))
            db.execute("UPDATE runs SET bytes_sent=bytes_sent+?, files_sent=files_sent+1 "
                       "WHERE id=?", (sent_bytes, run_id))
            if inflight_id is not None:
                db.execute("DELETE FROM inflight WHERE id=?", (inflight_id,))

    def reset_file(self, session_id: int, rel: str) -> None:
        """Forget that a file was uploaded (it is missing or different in the bucket)."""
        with self._tx() as db:
            db.execute("UPDATE files SET etag=NULL, upload_id=NULL, confirmed=0, bind_state=0, "
                       "bound_resource=NULL WHERE session_id=? AND rel=?", (session_id, rel))
            db.execute("DELETE FROM parts WHERE session_id=? AND rel=?", (session_id, rel))

    def set_confirmed(self, session_id: int, rels: Iterable[str]) -> None:
        """Mark objects as seen in the bucket with the right size and ETag."""
        with self._tx() as db:
            db.executemany("UPDATE files SET confirmed=1 WHERE session_id=? AND rel=?",
                           [(session_id, r) for r in rels])

    def set_bind_state(self, session_id: int, rels: Iterable[str], resource: str | None,
                       state: int) -> None:
        """Mark files as not bound, being bound (pending) or bound to ``resource``."""
        with self._tx() as db:
            db.executemany("UPDATE files SET bind_state=?, bound_resource=? "
                           "WHERE session_id=? AND rel=?",
                           [(state, resource, session_id, r) for r in rels])

    def upload_ids(self, session_id: int) -> set[str]:
        """Multipart upload ids the journal knows for a session (the others are orphans)."""
        return {r[0] for r in self._query(
            "SELECT upload_id FROM files WHERE session_id=? AND upload_id IS NOT NULL",
            (session_id,))}

    # -- runs and in-flight transfers -----------------------------------------------------
    def start_run(self, session_id: int) -> int:
        """Open a run; returns its id."""
        with self._tx() as db:
            cur = db.execute("INSERT INTO runs (session_id, pid, started_at) VALUES (?,?,?)",
                             (session_id, os.getpid(), time.time()))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, bytes_skipped: int, files_skipped: int,
                   orphans_aborted: int) -> None:
        """Close a run with its skip counts."""
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at=?, bytes_skipped=?, files_skipped=?, "
                       "orphans_aborted=? WHERE id=?",
                       (time.time(), bytes_skipped, files_skipped, orphans_aborted, run_id))

    def begin_inflight(self, run_id: int, session_id: int, rel: str, part_number: int,
                       size: int) -> int:
        """Record a transfer that starts now (part 0 = a single PUT); returns its row id."""
        with self._tx() as db:
            cur = db.execute("INSERT INTO inflight (run_id, session_id, rel, part_number, size, "
                             "started_at) VALUES (?,?,?,?,?,?)",
                             (run_id, session_id, rel, part_number, size, time.time()))
            return int(cur.lastrowid or 0)

    def end_inflight(self, inflight_id: int) -> None:
        """Drop an in-flight row whose transfer failed (it will be retried)."""
        with self._tx() as db:
            db.execute("DELETE FROM inflight WHERE id=?", (inflight_id,))

    def runs(self, session_id: int | None = None) -> list[RunStats]:
        """Runs, oldest first, with the bytes still marked in flight (lost by a crash)."""
        where = "WHERE r.session_id=?" if session_id is not None else ""
        args = (session_id,) if session_id is not None else ()
        rows = self._query(
            "SELECT r.id, r.session_id, r.pid, r.started_at, r.finished_at, r.bytes_sent, "
            "r.bytes_skipped, r.files_sent, r.files_skipped, r.orphans_aborted, "
            "COALESCE((SELECT SUM(size) FROM inflight i WHERE i.run_id=r.id), 0) "
            f"FROM runs r {where} ORDER BY r.id", args)
        return [RunStats(*r) for r in rows]
