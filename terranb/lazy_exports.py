"""A package's public names, imported from their modules on first use.

The packages of terranb (``jobs``, ``transfer``, ``results``, ``dataset``,
``widgets``) re-export their main classes so that ``from terranb.jobs import Job``
works, but importing the package must stay cheap (``import terranb`` loads no
heavy library, and ipywidgets/boto3/numpy load only when a name that needs them
is used). Each package's ``__init__`` therefore names where every export lives
and sets ``__getattr__ = lazy_exports(__name__, {...})`` (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name -> where[name]`` (a submodule).

    ``where`` maps each exported name to the submodule that defines it, relative to
    ``package`` (``{"Job": "job"}`` reads ``terranb.jobs.job.Job``).
    """
    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
