"""The running emulator's shared objects, reachable from every route.

Routes get it with ``request.app.state.ctx``. It holds the options, the SQLite
state, the object store, the job scheduler and the FlightHub 2 / Cloud API
identities. Storage and scheduler are typed loosely (``Any``) because the
object store belongs to another module whose interface is described in
``storage.py``.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from terranb.emulator.config import EmulatorOptions
from terranb.emulator.state import State

if TYPE_CHECKING:  # pragma: no cover
    from terranb.emulator.scheduler import Scheduler

__all__ = ["EmulatorContext", "account_prefix"]


def account_prefix(app_key: str) -> str:
    """A stable uuid-looking folder for an account's objects (DJI's storePath starts with one)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"terranb-emulator:{app_key}"))


@dataclass
class EmulatorContext:
    """Options, state, storage and scheduler of one emulator instance."""

    options: EmulatorOptions
    state: State
    storage: Any
    user_token: str = field(repr=False)
    project_uuid: str
    app_key: str
    secret_key: str = field(repr=False)
    scheduler: Scheduler | None = None

    def new_callback_param(self) -> str:
        """An opaque, base64-looking callbackParam like DJI's (about 300 chars in the wild)."""
        return secrets.token_urlsafe(96)
