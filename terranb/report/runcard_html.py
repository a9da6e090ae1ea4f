"""The run card as a report section: backend, jobs, parameters, timings, checksums."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import terranb.report.template as T
from terranb.report.runcard import RunCard

__all__ = ["runcard_section"]


def _checksum_table(sums: list[Any], limit: int) -> str:
    digest = hashlib.sha256("".join(f"{s.sha256}  {s.path}\n" for s in sums).encode()).hexdigest()
    rows = [[s.path, s.size, s.sha256] for s in sums[:limit]]
    more = (f'<p class="note">... and {len(sums) - limit} more files (all are in the combined '
            "digest).</p>") if len(sums) > limit else ""
    total = sum(s.size for s in sums)
    return (f'<p>{len(sums)} files, {total:,} bytes; combined SHA-256 of the list '
            f'(<code>sha256sum</code> format): <code class="digest">{digest}</code></p>'
            + T.table(["file", "bytes", "SHA-256"], rows, "mono") + more)


def _params_text(params: Any) -> str:
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return params
    return json.dumps(params, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _duration(a: str, b: str) -> str:
    try:
        s = (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
    except (TypeError, ValueError):
        return "-"
    return f"{s:.1f} s"


def runcard_section(card: RunCard, max_rows: int = 60) -> str:
    """The run card as a report section."""
    head = T.kv_table({
        "backend": card.backend or "-",
        "service": card.service_url or "-",
        "run created (UTC)": card.created_at,
        "terranb": card.terranb_version,
        "python / platform": f"{card.python} / {card.platform}",
    })
    jobs = T.table(
        ["job id", "type", "backend", "name", "status", "submitted", "started", "finished",
         "processing"],
        [[j.uuid, j.job_type, j.backend, j.name, j.status, j.submitted_at or "-",
          j.started_at or "-", j.finished_at or "-", _duration(j.started_at, j.finished_at)]
         for j in card.jobs]) if card.jobs else "<p class='note'>No job records (the results "\
        "were not downloaded by a terranb run).</p>"
    params = "".join(
        f"<h3>Parameters of {T.esc(j.job_type or j.uuid)} job "
        f"<code>{T.esc(j.uuid)}</code></h3><pre class='mono'>{T.esc(_params_text(j.parameters))}"
        "</pre>" for j in card.jobs if j.parameters not in (None, "", {}))
    timings = dict(card.timings)
    for j in card.jobs:
        for k, v in j.timings.items():
            timings[f"{j.job_type or j.uuid[:8]} {k}"] = v
    timing_html = (T.table(["step", "seconds"], [[k, float(v)] for k, v in timings.items()])
                   if timings else "<p class='note'>No timings recorded.</p>")
    inputs = (_checksum_table(card.inputs, max_rows) if card.inputs else
              "<p class='note'>No input checksums recorded.</p>")
    outputs = _checksum_table(card.outputs, max_rows) if card.outputs else \
        "<p class='note'>No outputs.</p>"
    body = (head + "<h3>Jobs</h3>" + jobs + params + "<h3>Timings</h3>" + timing_html
            + "<h3>Input checksums</h3>" + inputs + "<h3>Output checksums</h3>" + outputs)
    return T.section("runcard", "Run card", body)
