"""The emulator's persistent state: one SQLite database under the data dir.

Tables hold what the three APIs create: accounts (TerraAPI AK/SK), issued
upload tokens (callbackParam, store path, STS key id and expiry), resources and
their files, TerraAPI jobs, FlightHub 2 models and Cloud API media. Everything
survives a restart with the same data dir; jobs that were running are picked up
by the scheduler again (see ``scheduler.resume``).

One connection shared by the web server's threads and the job workers, guarded
by a re-entrant lock: the load is tiny and this keeps SQLite out of
"database is locked" trouble. Rows come back as plain dicts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["UNFINISHED_JOB_STATES", "State"]

# TerraAPI job statuses that count as "unfinished" (1 waiting .. 4 result processing).
UNFINISHED_JOB_STATES = (1, 2, 3, 4)

_SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    app_key TEXT PRIMARY KEY, secret_key TEXT NOT NULL, prefix TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    callback_param TEXT PRIMARY KEY, api TEXT NOT NULL, owner TEXT NOT NULL, bucket TEXT NOT NULL,
    region TEXT NOT NULL, store_path TEXT NOT NULL, access_key_id TEXT NOT NULL,
    expire_time REAL NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    uuid TEXT PRIMARY KEY, api TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '', revisable INTEGER NOT NULL DEFAULT 1,
    status INTEGER NOT NULL DEFAULT 1, scope TEXT NOT NULL DEFAULT '{}',
    upload_used_time REAL NOT NULL DEFAULT 0, download_used_time REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    uuid TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL,
    etag TEXT NOT NULL, size INTEGER NOT NULL, meta TEXT NOT NULL DEFAULT '',
    position TEXT NOT NULL DEFAULT '{}', bucket TEXT NOT NULL, object_key TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS resource_files (
    resource_uuid TEXT NOT NULL, file_uuid TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (resource_uuid, file_uuid), UNIQUE (resource_uuid, name));
CREATE TABLE IF NOT EXISTS jobs (
    uuid TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL DEFAULT 0, type INTEGER NOT NULL DEFAULT 0,
    parameters TEXT, origin_resource_uuid TEXT, output_resource_uuid TEXT,
    percentage REAL NOT NULL DEFAULT 0, remain_seconds INTEGER NOT NULL DEFAULT 0,
    pixels REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
    stop_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, completed_at REAL);
CREATE TABLE IF NOT EXISTS models (
    uuid TEXT PRIMARY KEY, project TEXT NOT NULL, resource_uuid TEXT NOT NULL,
    model_type INTEGER NOT NULL, job_type TEXT NOT NULL, parameters TEXT NOT NULL,
    status INTEGER NOT NULL, progress INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '', zip_status INTEGER NOT NULL DEFAULT 0,
    zip_progress INTEGER NOT NULL DEFAULT 0, zip_file_key TEXT NOT NULL DEFAULT '',
    model_size INTEGER NOT NULL DEFAULT 0, delete_resource INTEGER NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, completed_at REAL);
CREATE TABLE IF NOT EXISTS media (
    file_id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    object_key TEXT NOT NULL, fingerprint TEXT NOT NULL, tinny_fingerprint TEXT NOT NULL,
    is_original INTEGER NOT NULL, drone TEXT NOT NULL, payload TEXT NOT NULL,
    sub_file_type INTEGER NOT NULL, job_id TEXT NOT NULL, metadata TEXT NOT NULL,
    size INTEGER NOT NULL, seq INTEGER NOT NULL, create_time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idx_rf_file ON resource_files(file_uuid);
CREATE INDEX IF NOT EXISTS idx_rf_seq ON resource_files(resource_uuid, seq);
CREATE INDEX IF NOT EXISTS idx_media_fp ON media(workspace_id, fingerprint);
"""

_JSON_COLUMNS = {"scope", "position", "metadata"}


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (name, *_), value in zip(cursor.description, values, strict=True):
        out[name] = json.loads(value) if name in _JSON_COLUMNS and value is not None else value
    return out


class State:
    """SQLite-backed store of everything the emulator knows.

    Args:
        path: the database file (its folder is created).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = _row
        self._db.executescript(_SCHEMA)  # WAL: readers never wait for the job workers

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ basics
    @contextmanager
    def transaction(self) -> Iterator[State]:
        """Run several statements atomically (``BEGIN IMMEDIATE`` .. ``COMMIT``)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """All rows of a SELECT as dicts."""
        with self._lock:
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        """The first row of a SELECT, or ``None``."""
        with self._lock:
            row: dict[str, Any] | None = self._db.execute(sql, tuple(params)).fetchone()
            return row

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; returns the number of changed rows."""
        with self._lock:
            return self._db.execute(sql, tuple(params)).rowcount

    def insert(self, table: str, values: dict[str, Any]) -> None:
        """Insert one row; dict/list values of JSON columns are serialised."""
        cols = list(values)
        data = [
            json.dumps(v) if c in _JSON_COLUMNS and not isinstance(v, str) else v
            for c, v in values.items()
        ]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self.execute(sql, data)

    def update(self, table: str, key: str, key_value: Any, values: dict[str, Any]) -> int:
        """Update columns of the row whose ``key`` is ``key_value``; returns rows changed."""
        if not values:
            return 0
        sets = ", ".join(f"{c} = ?" for c in values)
        data = [
            json.dumps(v) if c in _JSON_COLUMNS and not isinstance(v, str) else v
            for c, v in values.items()
        ]
        return self.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", [*data, key_value])

    # ---------------------------------------------------------------- settings
    def get_setting(self, key: str) -> str | None:
        """A stored setting (e.g. the default AK), or ``None``."""
        row = self.one("SELECT value FROM settings WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        self.execute(
            "INSERT INTO settings(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # ---------------------------------------------------------------- accounts
    def put_account(self, app_key: str, secret_key: str, prefix: str) -> None:
        """Create or update a TerraAPI account."""
        self.execute(
            "INSERT INTO accounts(app_key, secret_key, prefix, created_at) VALUES(?, ?, ?, ?) "
            "ON CONFLICT(app_key) DO UPDATE SET secret_key = excluded.secret_key",
            (app_key, secret_key, prefix, time.time()),
        )

    def secret_for(self, app_key: str) -> str | None:
        """The SK of an AK, or ``None`` for an unknown AK."""
        row = self.one("SELECT secret_key FROM accounts WHERE app_key = ?", (app_key,))
        return None if row is None else str(row["secret_key"])

    def account(self, app_key: str) -> dict[str, Any] | None:
        """The account row of an AK."""
        return self.one("SELECT * FROM accounts WHERE app_key = ?", (app_key,))

    # -------------------------------------------------------------- resources
    def resource(self, uuid: str, api: str | None = None) -> dict[str, Any] | None:
        """One resource (optionally only if it belongs to ``api``)."""
        row = self.one("SELECT * FROM resources WHERE uuid = ?", (uuid,))
        if row is None or (api is not None and row["api"] != api):
            return None
        return row

    def resource_files(self, resource_uuid: str) -> list[dict[str, Any]]:
        """The files bound to a resource, in binding order, with their resource-local name."""
        return self.query(
            "SELECT f.*, rf.name AS bound_name FROM resource_files rf "
            "JOIN files f ON f.uuid = rf.file_uuid WHERE rf.resource_uuid = ? ORDER BY rf.seq",
            (resource_uuid,),
        )

    def bind_file(self, resource_uuid: str, file_uuid: str, name: str) -> None:
        """Link a file into a resource under ``name``."""
        row = self.one(
            "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM resource_files WHERE resource_uuid = ?",
            (resource_uuid,),
        )
        seq = int(row["n"]) if row else 1
        self.execute(
            "INSERT INTO resource_files(resource_uuid, file_uuid, name, seq) VALUES(?, ?, ?, ?)",
            (resource_uuid, file_uuid, name, seq),
        )

    def resource_stats(self, resource_uuid: str) -> tuple[int, int]:
        """(file count, total bytes) of a resource."""
        row = self.one(
            "SELECT COUNT(*) AS n, COALESCE(SUM(f.size), 0) AS s FROM resource_files rf "
            "JOIN files f ON f.uuid = rf.file_uuid WHERE rf.resource_uuid = ?",
            (resource_uuid,),
        )
        return (int(row["n"]), int(row["s"])) if row else (0, 0)

    def file_resources(self, file_uuid: str) -> list[str]:
        """Uuids of the resources a file is bound to."""
        return [
            r["resource_uuid"]
            for r in self.query(
                "SELECT resource_uuid FROM resource_files WHERE file_uuid = ?", (file_uuid,)
            )
        ]

    # ------------------------------------------------------------------- jobs
    def count_unfinished_jobs(self, owner: str) -> int:
        """TerraAPI jobs of an account in states 1..4."""
        marks = ", ".join("?" * len(UNFINISHED_JOB_STATES))
        row = self.one(
            f"SELECT COUNT(*) AS n FROM jobs WHERE owner = ? AND status IN ({marks})",
            (owner, *UNFINISHED_JOB_STATES),
        )
        return int(row["n"]) if row else 0
