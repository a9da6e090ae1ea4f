"""``terranb preview JOB_OR_URL --out x.html``: see results in the bucket without downloading.

A job id previews every output file of a finished TerraAPI job through presigned
URLs; a URL previews one COG, COPC or ``tileset.json`` (its tiles beside it). Only
byte ranges are read (the COG overview that fits, the COPC coarse levels, one
tileset level) and ``--max-bytes`` is a hard cap. Prints one line per file and the
bytes fetched; OBJ and plain LAS are listed with what a download would cost.
"""

from __future__ import annotations

import argparse
from typing import Any

from terranb.cli._common import add_command, add_service_flags, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``preview``."""
    p = add_command(subparsers, "preview", _run,
                    help="preview results from the bucket (no download)",
                    description=__doc__.replace("``", ""))
    p.add_argument("target", help="job id (TerraAPI) or an http(s) URL of a COG/COPC/tileset.json")
    p.add_argument("--out", default=None, help="write the map/3D/byte-count page here (HTML)")
    for flag, default, text in _BUDGETS:
        p.add_argument(flag, type=int, default=default, help=text)
    add_service_flags(p, ledger=True, backend=True)


# The four budgets are options of one kind (a whole number capping what a preview reads);
# each help names its default through argparse, so the text cannot drift from the value.
_BUDGETS = (
    ("--max-bytes", 256 * 1024 * 1024, "hard cap on bytes fetched (default %(default)s = 256 MiB)"),
    ("--max-pixels", 1_000_000, "ortho preview pixel budget (default %(default)s pixels)"),
    ("--max-points", 250_000, "point cloud preview size (default %(default)s points)"),
    ("--max-faces", 200_000, "tileset level face budget (default %(default)s faces)"),
)


def _run(args: argparse.Namespace) -> int:
    budgets = {"max_pixels": args.max_pixels, "max_points": args.max_points,
               "max_faces": args.max_faces, "max_bytes": args.max_bytes}
    if args.target.startswith(("http://", "https://")):
        from terranb.jobs.preview import preview_url

        preview = preview_url(args.target, **budgets)
    else:
        from terranb.cli.cmd_jobs import _attach

        args.job = args.target
        preview = _attach(args).preview(**budgets)
    if args.out:
        from terranb.viz.preview_page import save_preview

        save_preview(preview, args.out, max_faces=args.max_faces, max_points=args.max_points)
    text = preview.summary() + (f"\nwrote {args.out}" if args.out else "")
    return emit(args, preview.to_dict(), text)
