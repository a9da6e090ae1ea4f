"""``with`` support for terranb's objects that hold a connection, a file or a database.

A class that owns something to release defines ``close()`` and inherits
:class:`Closable`; ``with X(...) as x:`` then closes it on the way out, errors
included (the error still propagates).
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Closable"]

_C = TypeVar("_C", bound="Closable")


class Closable:
    """Mixin: ``__enter__`` returns the object, ``__exit__`` calls its ``close()``."""

    def close(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define close()")

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
