"""Local emulator of DJI's cloud reconstruction APIs (TerraAPI v2, FlightHub 2, Cloud API).

``from terranb.emulator import serve`` gives a context manager that runs the
whole emulator in-process and yields an :class:`EmulatorInfo`; ``terranb
emulator`` runs it in the foreground. Heavy imports (FastAPI, uvicorn, moto)
happen only when it starts.

Example:
    >>> from terranb.emulator import serve
    >>> with serve(job_seconds=2) as emu:  # doctest: +SKIP
    ...     emu.base_url
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from terranb.emulator.config import EmulatorInfo, EmulatorOptions

if TYPE_CHECKING:  # pragma: no cover
    from contextlib import AbstractContextManager

__all__ = ["EmulatorInfo", "EmulatorOptions", "run_forever", "serve"]


def serve(**options: Any) -> AbstractContextManager[EmulatorInfo]:
    """Run the emulator for a ``with`` block; see :func:`terranb.emulator.server.serve`."""
    from terranb.emulator.server import serve as _serve

    return _serve(**options)


def run_forever(options: EmulatorOptions) -> int:
    """Run the emulator in the foreground; see :func:`terranb.emulator.server.run_forever`."""
    from terranb.emulator.server import run_forever as _run

    return _run(options)
