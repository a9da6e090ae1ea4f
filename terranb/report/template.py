"""HTML building blocks of the survey report: page, sections, tables, embedded documents.

Everything is inline: CSS in a ``<style>``, images as data URIs, maps and 3D
views as ``<iframe srcdoc>`` documents that carry their own (vendored)
Leaflet and three.js. The page therefore opens from a USB stick, an e-mail
attachment or a headless browser without a single network request.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["esc", "iframe", "kv_table", "page", "section", "table"]

esc = html.escape

CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;
  color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#d0d7de;font-size:13px}
main{max-width:1100px;margin:0 auto;padding:16px 32px 48px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 20px;
  margin:16px 0}
h2{font-size:18px;margin:6px 0 10px;border-bottom:1px solid #d8dee4;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px} h4{font-size:14px;margin:10px 0 4px}
table{border-collapse:collapse;font-size:13px;margin:4px 0 10px}
th,td{border:1px solid #d8dee4;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:SFMono-Regular,Consolas,'Liberation Mono',monospace;font-size:12px}
iframe{width:100%;border:1px solid #d0d7de;border-radius:4px;background:#fff}
.note{color:#57606a;font-size:12px}
.warn{color:#9a6700} .err{color:#cf222e}
nav a{margin-right:14px;color:#0969da;text-decoration:none;font-size:13px}
img.preview{max-width:100%;border:1px solid #d0d7de;border-radius:4px}
@page{size:A4;margin:12mm 10mm}
@media print{body{background:#fff} nav{display:none} main{max-width:none;padding:0 8px}
  section{border:none;padding:0 4px;margin:10px 0} iframe,img,table,tr{break-inside:avoid}
  h2,h3,h4{break-after:avoid}
  header{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def page(title: str, subtitle: str, sections: Sequence[str], nav: Sequence[tuple[str, str]] = ()
         ) -> str:
    """A whole self-contained HTML document.

    A strict Content-Security-Policy keeps every sub-resource inline (data: URIs
    and srcdoc frames), so a stray external link cannot slip into a report.
    """
    links = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in nav)
    csp = ("default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; "
           "script-src 'unsafe-inline' 'unsafe-eval' blob:; frame-src data: about: blob:; "
           "worker-src blob:; child-src blob: data: about:; font-src data:; "
           "connect-src data: blob:")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><main>"
        + (f"<nav>{links}</nav>" if links else "")
        + "".join(sections)
        + "</main></body></html>\n"
    )


def section(anchor: str, title: str, body: str) -> str:
    """A titled section with an anchor for the navigation bar."""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
        return f'<td class="num">{esc(text)}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, (dict, list)):
        return f"<td><code>{esc(json.dumps(value, ensure_ascii=False, default=str))}</code></td>"
    if value is None:
        return "<td>-</td>"
    return f"<td>{esc(str(value))}</td>"


def kv_table(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table; floats and ints right-aligned."""
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = "".join(f"<tr><th>{esc(str(k))}</th>{_cell(v)}</tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], css_class: str = "") -> str:
    """A table with a header row."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def iframe(document: str, height: int = 480, title: str = "") -> str:
    """Embed a whole HTML document as an ``<iframe srcdoc>`` (scripts run in the frame).

    ``allow-same-origin``: Chromium runs an opaque-origin (sandboxed) frame in a process
    of its own, which headless screenshots and prints (``--virtual-time-budget``) do not
    wait for, so the mesh view was captured before its photo texture had decoded: black.
    The frame holds the report's own generated viewer, whose page already runs the same
    kind of scripts, so sharing its origin trusts nothing new.
    """
    return (f'<iframe title="{esc(title)}" style="width:100%;height:{int(height)}px;'
            f'border:1px solid #d0d7de;border-radius:4px" '
            f'sandbox="allow-scripts allow-same-origin" '
            f'srcdoc="{esc(document, quote=True)}"></iframe>')
