"""Links from a widget to a file the kernel wrote (a report, a zip), as URLs a server serves.

A browser cannot open ``file://`` paths from a notebook page, and a widget's HTML
is not rewritten by JupyterLab (only rendered outputs are), so the widget has to
write the served URL itself:

* **Voila** (the kernel has ``VOILA_BASE_URL``): ``<base>voila/files/<path>``, the
  path relative to Voila's root: the notebook's folder for ``voila nb.ipynb``, or
  the server root when the page is ``.../voila/render/<notebook path>`` (the root is
  the kernel's folder minus the notebook's folders). Voila serves only files its
  ``VoilaConfiguration.file_allowlist`` matches (images by default); terranb's
  ``notebooks/voila.json`` and ``binder/`` config add ``.html``, ``.pdf``, ``.zip``.
* **Jupyter Server** (JupyterLab, Notebook 7): ``<base_url>files/<path>`` relative
  to the root of the running server whose ``root_dir`` holds the file. The server
  is found through its runtime file (``jpserver-<pid>.json``); only ``root_dir``,
  ``base_url`` and ``pid`` are read from it.
* Otherwise, or when the file is outside every served root: a path relative to
  the kernel's folder, with a note saying it may not open (the widget shows it).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileLink", "file_link", "jupyter_servers", "voila_root"]


@dataclass(frozen=True)
class FileLink:
    """Where a browser finds a file.

    Attributes:
        href: the URL (absolute path on the server) or, when ``served`` is false, a
            relative path.
        served: ``href`` is a URL of a server that serves the file.
        via: ``"voila"``, ``"jupyter"`` or ``"relative"``.
        note: why the link may not open (empty when served).
    """

    href: str
    served: bool
    via: str
    note: str = ""


def _inside(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def voila_root(env: Mapping[str, str], cwd: Path) -> Path:
    """Voila's file root, from the page the kernel was started for (see module docstring)."""
    page = urllib.parse.urlparse(env.get("VOILA_REQUEST_URL", "")).path
    marker = "/voila/render/"
    if marker in page:
        nb = urllib.parse.unquote(page.split(marker, 1)[1])
        depth = len(Path(nb).parent.parts)
        if depth and len(cwd.parts) > depth and Path(*cwd.parts[-depth:]) == Path(nb).parent:
            return Path(*cwd.parts[:-depth])
    return cwd


def jupyter_servers(runtime_dir: str | os.PathLike[str] | None = None
                    ) -> Iterable[tuple[Path, str]]:
    """``(root_dir, base_url)`` of the running Jupyter servers of this user."""
    if runtime_dir is None:
        try:
            from jupyter_core.paths import jupyter_runtime_dir
        except ImportError:
            return []
        runtime_dir = jupyter_runtime_dir()
    folder = Path(runtime_dir)
    if not folder.is_dir():
        return []
    found = []
    for f in sorted(folder.glob("jpserver-*.json")):
        try:
            info = json.loads(f.read_text(encoding="utf-8"))
            pid = int(info["pid"])
            os.kill(pid, 0)  # still running? (signal 0 only checks)
            root = Path(os.path.expanduser(str(info["root_dir"]))).resolve()
            found.append((root, str(info.get("base_url") or "/")))
        except PermissionError:
            continue  # another user's server
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable, half written or stale
    return found


def _url(base: str, prefix: str, rel: str) -> str:
    base = base if base.endswith("/") else base + "/"
    return base + prefix + urllib.parse.quote(rel)


def file_link(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
              cwd: str | os.PathLike[str] | None = None,
              servers: Iterable[tuple[Path, str]] | None = None) -> FileLink:
    """The best URL for ``path`` in the front end this kernel serves (module docstring).

    Args:
        path: the file.
        env: the kernel's environment (default ``os.environ``).
        cwd: the kernel's folder (default the working directory: the notebook's).
        servers: ``(root_dir, base_url)`` of Jupyter servers (default: the running ones).
    """
    env = os.environ if env is None else env
    here = Path(cwd if cwd is not None else os.getcwd()).resolve()
    target = Path(path).resolve()
    if "VOILA_BASE_URL" in env:
        root = voila_root(env, here)
        rel = _inside(target, root)
        if rel is not None:
            return FileLink(_url(env["VOILA_BASE_URL"], "voila/files/", rel), True, "voila")
        note = f"outside the folder Voila serves ({root})"
    else:
        for root, base in (jupyter_servers() if servers is None else servers):
            rel = _inside(target, Path(root).resolve())
            if rel is not None:
                return FileLink(_url(base, "files/", rel), True, "jupyter")
        note = "no running Jupyter server serves this folder"
    try:
        rel = Path(os.path.relpath(target, here)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        rel = target.as_posix()
    return FileLink(rel, False, "relative",
                    f"{note}: the link is relative to the notebook's folder and may not open; "
                    f"the file is {target}")
