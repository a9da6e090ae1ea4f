"""Start and stop the whole emulator: SQLite state, embedded S3, job scheduler and HTTP server.

Two ways in:

* :func:`serve` — a context manager for notebooks and tests; runs uvicorn in a
  background thread on 127.0.0.1 (port 0 = a free port) and yields an
  :class:`~terranb.emulator.config.EmulatorInfo`;
* :func:`run_forever` — what ``terranb emulator`` runs: the same in the
  foreground, first stdout line = one JSON object with the connection facts,
  SIGTERM / Ctrl-C stop the server and the object store cleanly.

Identities (TerraAPI AK/SK, FlightHub 2 organisation key and project) are taken
from the options, else from the data dir of an earlier run, else made up, and
stored in the data dir so a restart keeps them. The S3 port is remembered too,
so presigned URLs issued before a restart keep working when the port is free.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from terranb.emulator.config import (
    CLOUDAPI_BUCKET,
    CLOUDAPI_REGION,
    CLOUDAPI_USERS,
    CLOUDAPI_WORKSPACE_ID,
    FH2_BUCKET,
    FH2_REGION,
    TERRA_BUCKET,
    TERRA_REGION,
    EmulatorInfo,
    EmulatorOptions,
)
from terranb.emulator.context import EmulatorContext, account_prefix
from terranb.emulator.state import State

__all__ = ["Emulator", "run_forever", "serve"]

log = logging.getLogger(__name__)


class Emulator:
    """One emulator instance; :meth:`start` / :meth:`stop` or use :func:`serve`.

    Args:
        options: the emulator options.
    """

    def __init__(self, options: EmulatorOptions) -> None:
        options.validate()
        self.options = options
        self.info: EmulatorInfo | None = None
        self._temp_dir: Path | None = None
        self._lock_file: Any = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.state: State | None = None
        self.storage: Any = None
        self.ctx: EmulatorContext | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> EmulatorInfo:
        """Start everything; returns the connection facts."""
        from terranb.errors import require

        require("fastapi", "emulator")
        require("uvicorn", "emulator")
        opts = self.options
        if opts.data_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="terranb-emulator-"))
            data_dir = self._temp_dir
        else:
            data_dir = Path(opts.data_dir).expanduser().resolve()
            data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock_data_dir(data_dir)
            return self._start(data_dir)
        except BaseException:
            self.stop()
            raise

    def _lock_data_dir(self, data_dir: Path) -> None:
        """Refuse to share a data dir with another running emulator (SQLite + objects)."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the user is on their own
            return
        from terranb.errors import ConfigError

        fh = open(data_dir / ".emulator.lock", "a+")  # noqa: SIM115  (held until stop())
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ConfigError(
                f"another terranb emulator is using the data dir {data_dir}; stop it first "
                "or pass a different --data-dir"
            ) from None
        self._lock_file = fh

    def _start(self, data_dir: Path) -> EmulatorInfo:
        import uvicorn

        from terranb.emulator.app import create_app, wrap_faults
        from terranb.emulator.netem import NetemConfig
        from terranb.emulator.scheduler import Scheduler
        from terranb.emulator.storage import EmbeddedStorage

        opts = self.options
        self.state = state = State(data_dir / "emulator.sqlite3")
        app_key, secret_key, user_token, project_uuid = self._identities(state)

        netem = NetemConfig(
            latency_ms=opts.latency_ms,
            bandwidth_bps_per_conn=opts.bandwidth or None,
            bandwidth_bps_total=opts.bandwidth_total or None,
            fail_rate=opts.fail_rate,
            seed=int(opts.seed or 0),
        )
        old_port = int(state.get_setting("s3_port") or 0)
        try:
            self.storage = EmbeddedStorage(data_dir, netem=netem, host=opts.host, port=old_port)
            self.storage.start()
        except OSError:
            if not old_port:
                raise
            log.info("S3 port %s is taken; using a new one (older presigned URLs break)", old_port)
            self.storage.stop()
            self.storage = EmbeddedStorage(data_dir, netem=netem, host=opts.host, port=0)
            self.storage.start()
        storage = self.storage
        state.set_setting("s3_port", storage.endpoint_url.rsplit(":", 1)[1].strip("/"))
        for bucket, region in (
            (TERRA_BUCKET, TERRA_REGION),
            (FH2_BUCKET, FH2_REGION),
            (CLOUDAPI_BUCKET, CLOUDAPI_REGION),
        ):
            storage.ensure_bucket(bucket, region)

        self.ctx = ctx = EmulatorContext(
            options=opts,
            state=state,
            storage=storage,
            user_token=user_token,
            project_uuid=project_uuid,
            app_key=app_key,
            secret_key=secret_key,
        )
        seed = int(opts.seed or 0)

        def engine_factory() -> Any:
            from terranb.emulator.engine import Engine

            return Engine(seed=seed)

        ctx.scheduler = Scheduler(ctx, engine_factory, data_dir / "work")
        app = wrap_faults(create_app(ctx), ctx)
        config = uvicorn.Config(
            app,
            host=opts.host,
            port=opts.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=3,
        )
        _port_free(opts.host, opts.port)
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, name="terranb-emulator-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not self._thread.is_alive():
                from terranb.errors import ConfigError

                raise ConfigError(
                    f"the emulator's HTTP server could not listen on {opts.host}:{opts.port} "
                    "(is the port in use?); choose another --port or 0 for any free port"
                )
            if time.monotonic() > deadline:
                raise TimeoutError("the emulator's HTTP server did not start within 30 s")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        resumed = ctx.scheduler.resume()
        if resumed:
            log.info("resumed %d unfinished jobs/models", len(resumed))
        user = CLOUDAPI_USERS["adminPC"]
        self.info = EmulatorInfo(
            base_url=f"http://{_url_host(opts.host)}:{port}",
            s3_endpoint_url=storage.endpoint_url,
            app_key=app_key,
            secret_key=secret_key,
            user_token=user_token,
            project_uuid=project_uuid,
            workspace_id=CLOUDAPI_WORKSPACE_ID,
            cloudapi_username=user.username,
            cloudapi_password=user.password,
            data_dir=str(data_dir),
        )
        return self.info

    def _identities(self, state: State) -> tuple[str, str, str, str]:
        opts = self.options
        stored_ak = state.get_setting("app_key")
        app_key = opts.app_key or stored_ak or secrets.token_hex(16)
        secret_key = opts.secret_key or state.secret_for(app_key) or secrets.token_urlsafe(32)
        state.put_account(app_key, secret_key, account_prefix(app_key))
        state.set_setting("app_key", app_key)
        user_token = opts.user_token or state.get_setting("user_token") or _make_org_key()
        project_uuid = opts.project_uuid or state.get_setting("project_uuid") or str(uuid.uuid4())
        state.set_setting("user_token", user_token)
        state.set_setting("project_uuid", project_uuid)
        return app_key, secret_key, user_token, project_uuid

    def stop(self) -> None:
        """Stop the HTTP server, the workers and the object store; idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._server = None
        if self.ctx is not None and self.ctx.scheduler is not None:
            self.ctx.scheduler.stop()
        if self.storage is not None:
            try:
                self.storage.stop()
            except Exception:
                log.debug("storage stop failed", exc_info=True)
            self.storage = None
        if self.state is not None:
            self.state.close()
            self.state = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _make_org_key() -> str:
    """An organisation key shaped like FlightHub 2's (a JWT), valid for this emulator only."""
    import jwt

    claims = {
        "organization_uuid": str(uuid.uuid4()),
        "iat": int(time.time()),
        "iss": "terranb-emulator",
    }
    return str(jwt.encode(claims, secrets.token_hex(32), algorithm="HS256"))


@contextmanager
def serve(**options: Any) -> Iterator[EmulatorInfo]:
    """Run the emulator in this process for the duration of a ``with`` block.

    Args:
        **options: any field of :class:`~terranb.emulator.config.EmulatorOptions`
            (``port``, ``app_key``, ``data_dir``, ``job_seconds``, ...).

    Yields:
        The connection facts (``base_url``, ``s3_endpoint_url``, keys ...).

    Example:
        >>> from terranb.emulator import serve
        >>> with serve(job_seconds=2) as emu:  # doctest: +SKIP
        ...     print(emu.base_url)
    """
    emulator = Emulator(EmulatorOptions(**options))
    info = emulator.start()
    try:
        yield info
    finally:
        emulator.stop()


def run_forever(options: EmulatorOptions) -> int:
    """Run in the foreground until SIGTERM/SIGINT; print the facts as the first stdout line."""
    stop = threading.Event()

    def _handler(signum: int, _frame: Any) -> None:
        stop.set()

    old = {s: signal.signal(s, _handler) for s in (signal.SIGTERM, signal.SIGINT)}
    emulator = Emulator(options)
    try:
        info = emulator.start()
        sys.stdout.write(json.dumps(info.to_dict()) + "\n")
        sys.stdout.flush()
        print(  # noqa: T201  (the human-readable line goes to stderr)
            f"terranb emulator: TerraAPI/FlightHub 2/Cloud API at {info.base_url}, "
            f"S3 at {info.s3_endpoint_url}, data in {info.data_dir}; Ctrl-C stops it "
            "(these keys are for the local emulator only)",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        emulator.stop()
        for s, h in old.items():
            signal.signal(s, h)


def _port_free(host: str, port: int) -> None:
    """Refuse a port already taken before uvicorn tries it.

    uvicorn reports a failed bind on its own logger, which without logging set up
    prints a second, bare ``[Errno 98] ...`` line above terranb's error.
    """
    import socket

    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            from terranb.errors import ConfigError

            raise ConfigError(f"the emulator cannot listen on {host}:{port}: "
                              f"{exc.strerror or exc}; choose another --port, or 0 for any "
                              "free port") from None
