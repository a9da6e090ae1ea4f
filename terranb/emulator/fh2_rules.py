"""FlightHub 2 open-modeling rules the live service enforces, as the emulator applies them.

Evidence: flighthub2-cli 0.1.2 (Apache-2.0, "verified against a live
organization", docs/flighthub2-notes.md), FH2-SEED for the concurrency limit.

* ``store_path`` of ``obtain_token`` is
  ``fh/organizations/<org>/open_reconstruction/tmp/<batch-uuid>/{fileName}``; the
  batch uuid is the ``resource_uuid`` that ``upload_callback`` takes (the API
  returns it nowhere else). The emulator refuses any other resource uuid
  (:data:`~terranb.emulator.errors_wire.FH2_NOT_BATCH`), accepting these variants:

  1. the batch of the callback's own ``store_path`` (the live rule);
  2. the same uuid in another letter case or with surrounding blanks (uuid
     parsers are case-insensitive), normalised to the issued lower-case form;
  3. the batch of an earlier ``store_path`` of the same project whose resource
     already exists: more files for that resource sent with a renewed token's
     ``callback_param`` ("several sequential calls with the same resource_uuid").

* At most :data:`MAX_CALLBACK_FILES` files per ``upload_callback``
  (:data:`~terranb.emulator.errors_wire.FH2_TOO_MANY_FILES` beyond).
* At most :data:`MAX_RUNNING` models reconstruct at once per organisation
  (standard edition); the models a start request asks for count too.
"""

from __future__ import annotations

import uuid as uuid_mod
from typing import Any

import terranb.emulator.errors_wire as E
from terranb.emulator.errors_wire import FH2Error

__all__ = [
    "MAX_CALLBACK_FILES",
    "MAX_RUNNING",
    "batch_of",
    "check_concurrency",
    "check_file_count",
    "new_store_path",
    "resolve_resource_uuid",
]

MAX_CALLBACK_FILES = 100
MAX_RUNNING = 2  # FH2-SEED: standard edition 2 (professional 5, enterprise 10)
PLACEHOLDER = "{fileName}"


def org_of(project: str) -> str:
    """A stable organisation id for a project (the emulator has one organisation)."""
    return str(uuid_mod.uuid5(uuid_mod.NAMESPACE_URL, f"terranb-emulator-org:{project}"))


def new_store_path(project: str) -> str:
    """A fresh batch under the organisation's open-reconstruction prefix."""
    return (f"fh/organizations/{org_of(project)}/open_reconstruction/tmp/"
            f"{uuid_mod.uuid4()}/{PLACEHOLDER}")


def batch_of(store_path: str) -> str:
    """The last path segment before ``{fileName}`` (``""`` when there is none)."""
    prefix = store_path.partition(PLACEHOLDER)[0]
    return prefix.rstrip("/").rsplit("/", 1)[-1]


def _norm(value: str) -> str:
    return value.strip().lower()


def resolve_resource_uuid(state: Any, project: str, resource_uuid: str,
                          token: dict[str, Any]) -> str:
    """The canonical resource uuid for an ``upload_callback``, or :class:`FH2Error`.

    ``token`` is the ``tokens`` row of the call's ``callback_param``.
    """
    own = batch_of(str(token["store_path"]))
    wanted = _norm(resource_uuid)
    if wanted == own.lower():
        return own
    rows = state.query("SELECT store_path FROM tokens WHERE api = 'fh2' AND owner = ?",
                       (project,))
    for row in rows:
        batch = batch_of(str(row["store_path"]))
        if batch.lower() == wanted and state.resource(batch, api="fh2") is not None:
            return batch
    raise FH2Error(
        E.FH2_NOT_BATCH,
        f"resource_uuid {resource_uuid!r} is not the batch of the store_path this "
        f"callback_param was issued with; send {own!r} (the segment before {PLACEHOLDER} "
        "in obtain_token's store_path)",
    )


def check_file_count(files: list[Any]) -> None:
    """At most :data:`MAX_CALLBACK_FILES` files in one call."""
    if len(files) > MAX_CALLBACK_FILES:
        raise FH2Error(
            E.FH2_TOO_MANY_FILES,
            f"upload_callback takes at most {MAX_CALLBACK_FILES} files per call, got "
            f"{len(files)}; send the rest in further calls with the same resource_uuid",
        )


def check_concurrency(running: int, requested: int) -> None:
    """Refuse a start that would make more than :data:`MAX_RUNNING` models run."""
    if running + requested > MAX_RUNNING:
        raise FH2Error(
            E.FH2_TOO_MANY,
            f"{running} reconstruction task(s) running and {requested} requested: at most "
            f"{MAX_RUNNING} may run at once in this organization; wait for one to finish "
            "or request fewer model types",
        )
