"""PDF export of the survey report through headless Chromium's print-to-PDF.

Why Chromium: the report's maps are Leaflet documents and its views are
scripts; a PDF must show them as the browser does. WeasyPrint runs no
JavaScript (the maps would be blank), so terranb prints with the browser
itself: ``chromium --headless --print-to-pdf`` (Debian's ``chromium``
package, Google Chrome, or the binary named by ``TERRANB_CHROMIUM``). The
page printed is the report built with ``print_mode`` (3D views as their
static PNG renderings, nothing folded away), so the PDF has the same
sections as the HTML.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from terranb.errors import TerranbError

__all__ = ["build_pdf", "find_chromium", "html_to_pdf"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary: ``$TERRANB_CHROMIUM``, else the first on PATH."""
    env = os.environ.get("TERRANB_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    return next((p for p in (shutil.which(n) for n in _NAMES) if p), None)


def html_to_pdf(html_file: str | os.PathLike[str], pdf: str | os.PathLike[str], *,
                timeout: float = 180.0, budget_ms: int = 15_000) -> Path:
    """Print ``html_file`` to ``pdf`` (A4, backgrounds on) with headless Chromium.

    Args:
        html_file: the report HTML.
        pdf: the PDF to write (atomically: a ``.part`` file, then renamed).
        timeout: seconds before the browser is stopped.
        budget_ms: virtual time the page's scripts get to draw maps before printing.

    Raises:
        TerranbError: no browser found, or the browser failed / timed out.
    """
    exe = find_chromium()
    if exe is None:
        raise TerranbError("PDF export needs Chromium or Chrome: install it (Debian: apt-get "
                           "install chromium) or set TERRANB_CHROMIUM=/path/to/chrome")
    src = Path(html_file).resolve()
    out = Path(pdf).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    with tempfile.TemporaryDirectory(prefix="terranb-chromium-") as profile:
        cmd = [exe, "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--no-pdf-header-footer",
               f"--virtual-time-budget={int(budget_ms)}", f"--print-to-pdf={part}",
               src.as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            part.unlink(missing_ok=True)
            raise TerranbError(f"Chromium did not finish printing {src.name} within {timeout:.0f}"
                               " s; try a smaller report (fewer viewer points)") from None
    if proc.returncode != 0 or not part.is_file() or part.stat().st_size == 0:
        part.unlink(missing_ok=True)
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise TerranbError(f"Chromium could not print {src.name} (exit {proc.returncode}): "
                           + " / ".join(tail))
    os.replace(part, out)
    return out


def build_pdf(results: str | os.PathLike[str], out: str | os.PathLike[str], *,
              options: object = None, title: str | None = None,
              on_step: object = None, keep_html: bool = False) -> Path:
    """Write the survey report of ``results`` as a PDF (same sections as the HTML).

    ``options`` is a :class:`~terranb.report.survey.ReportOptions` (``print_mode`` is
    switched on for the printed copy); ``keep_html`` keeps the printed HTML beside it.
    """
    import dataclasses

    from terranb.report.survey import ReportOptions, build_report

    opts = options if isinstance(options, ReportOptions) else ReportOptions()
    opts = dataclasses.replace(opts, print_mode=True)
    target = Path(out).expanduser()
    printed = target.with_name(target.stem + ".print.html")
    build_report(results, printed, options=opts, title=title,
                 on_step=on_step if callable(on_step) else None)
    try:
        if callable(on_step):
            on_step("printing to PDF (headless Chromium)")
        return html_to_pdf(printed, target)
    finally:
        if not keep_html:
            printed.unlink(missing_ok=True)
