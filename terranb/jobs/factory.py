"""Builds a backend from its name: the one place that knows every backend module.

It sits above the backend modules (which import only :mod:`terranb.jobs.backend`'s
protocol and lower layers), so no backend imports the factory and there is no circle.
"""

from __future__ import annotations

from typing import Any

from terranb.errors import ConfigError
from terranb.jobs.backend import Backend

__all__ = ["make_backend"]


def make_backend(kind: str, **client_kwargs: Any) -> Backend:
    """A backend of ``kind`` with a client built from settings (env, profile) and kwargs.

    Args:
        kind: ``"terra"`` (TerraAPI v2) or ``"flighthub"`` (FlightHub 2).
        client_kwargs: passed to :class:`~terranb.api.terra.TerraClient` or
            :class:`~terranb.api.flighthub.FlightHubClient` (e.g. ``base_url``).

    Example:
        >>> backend = make_backend("terra", base_url="http://127.0.0.1:8000")  # doctest: +SKIP
    """
    kind = (kind or "terra").lower()
    if kind in ("terra", "terraapi"):
        from terranb.api.terra import TerraClient
        from terranb.jobs.terra_backend import TerraBackend

        return TerraBackend(TerraClient(**client_kwargs))
    if kind in ("flighthub", "fh2", "flighthub2"):
        from terranb.api.flighthub import FlightHubClient
        from terranb.jobs.flighthub_backend import FlightHubBackend

        return FlightHubBackend(FlightHubClient(**client_kwargs))
    if kind in ("flighthub-map", "fh2-map"):
        from terranb.api.flighthub import FlightHubClient
        from terranb.jobs.map_model_backend import MapModelBackend

        return MapModelBackend(FlightHubClient(**client_kwargs))
    raise ConfigError(f"unknown backend {kind!r}; use 'terra' or 'flighthub'")
