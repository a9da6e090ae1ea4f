"""Byte-level progress of uploads and downloads, shared by the CLI bars and the widgets.

One :class:`ProgressEvent` describes the state after some bytes moved: the file
concerned and the totals. A :class:`ProgressTracker` aggregates the counts of
many worker threads under a lock and calls one callback; callbacks run in the
worker threads, so they must be quick (a tqdm ``update`` or a widget value).

Example:
    >>> events = []
    >>> t = ProgressTracker(events.append, phase="upload")
    >>> t.start_file("a.jpg", 10)
    >>> t.advance("a.jpg", 4)
    >>> events[-1].total_done, events[-1].file_done
    (4, 4)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProgressCallback", "ProgressEvent", "ProgressTracker"]


@dataclass(frozen=True)
class ProgressEvent:
    """Progress after a chunk of bytes moved.

    Attributes:
        phase: ``"upload"``, ``"download"``, ``"bind"`` or ``"verify"``.
        path: relative path of the file concerned ('' for phase-wide events).
        file_done: bytes of that file done so far.
        file_total: size of that file.
        total_done: bytes done over all files of this run (skipped files included).
        total_bytes: bytes of all files of this run.
        files_done: files finished (skipped included).
        files_total: files in this run.
        file_finished: True on the event that completes ``path``.
    """

    phase: str
    path: str
    file_done: int
    file_total: int
    total_done: int
    total_bytes: int
    files_done: int
    files_total: int
    file_finished: bool = False

    @property
    def fraction(self) -> float:
        """Overall fraction done (0..1)."""
        if self.total_bytes <= 0:
            return 1.0 if self.files_done >= self.files_total else 0.0
        return min(1.0, self.total_done / self.total_bytes)


ProgressCallback = Callable[[ProgressEvent], None]


class ProgressTracker:
    """Thread-safe byte counter that turns worker updates into :class:`ProgressEvent` calls."""

    def __init__(self, callback: ProgressCallback | None, *, phase: str,
                 total_bytes: int = 0, files_total: int = 0) -> None:
        self._callback = callback
        self.phase = phase
        self.total_bytes = total_bytes
        self.files_total = files_total
        self.total_done = 0
        self.files_done = 0
        self._files: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[int], None]] = []

    def add_listener(self, fn: Callable[[int], None]) -> None:
        """Also tell ``fn`` every byte count :meth:`advance` sees (bytes on the wire)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[int], None]) -> None:
        """Stop telling ``fn``."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def set_totals(self, total_bytes: int, files_total: int) -> None:
        """Set the run's totals once the file list is known."""
        with self._lock:
            self.total_bytes = total_bytes
            self.files_total = files_total

    def start_file(self, path: str, size: int, already: int = 0) -> None:
        """Register a file; ``already`` bytes of it count as done (resumed parts)."""
        with self._lock:
            old_done = self._files.get(path, (0, size))[0]
            self._files[path] = (already, size)
            self.total_done += already - old_done
        self._emit(path)

    def advance(self, path: str, nbytes: int) -> None:
        """Count ``nbytes`` more of ``path`` (negative to roll back a retried chunk)."""
        if not nbytes:
            return
        with self._lock:
            done, size = self._files.get(path, (0, 0))
            self._files[path] = (done + nbytes, size)
            self.total_done += nbytes
        for fn in self._listeners:
            fn(nbytes)
        self._emit(path)

    def finish_file(self, path: str, skipped: bool = False) -> None:
        """Mark ``path`` finished; its remaining bytes count as done."""
        with self._lock:
            done, size = self._files.get(path, (0, 0))
            self.total_done += max(0, size - done)
            self._files[path] = (size, size)
            self.files_done += 1
        self._emit(path, finished=True)

    def _emit(self, path: str, finished: bool = False) -> None:
        if self._callback is None:
            return
        with self._lock:
            done, size = self._files.get(path, (0, 0))
            event = ProgressEvent(self.phase, path, done, size, self.total_done,
                                  self.total_bytes, self.files_done, self.files_total, finished)
        self._callback(event)
