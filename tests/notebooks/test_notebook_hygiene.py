"""Committed notebooks leak no secret and tell users settings terranb really reads.

The notebooks run on the emulator, whose keys are random per run; they count as secrets
all the same (an output that shows one teaches users to print theirs). The scanner looks
at what a reader of the committed file sees: stream and ``text/plain`` outputs, HTML
outputs (scripts and data URIs removed) and the saved widget state.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# key words followed by a value that is not masked (masks contain '*' or '…')
_KEYED = re.compile(
    r"(?i)(secret[_ -]?(access[_ -]?)?key|access[_ -]?key[_ -]?secret|secret|password|passwd|"
    r"session[_ -]?token|security[_ -]?token|user[_ -]?token|x-user-token|x-auth-token)"
    r"[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"',;)}<]{8,})")
# credential shapes: a JWT (FlightHub 2 organisation key, Cloud API token), an AWS-style
# 40-character secret access key, a secrets.token_urlsafe(32) key (the emulator's SK)
_SHAPES = [
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?<![A-Za-z0-9+/=_-])(?=[A-Za-z0-9+/]*[0-9])(?=[A-Za-z0-9+/]*[a-z])"
               r"(?=[A-Za-z0-9+/]*[A-Z])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=_-])"),
    re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[a-z])"
               r"(?=[A-Za-z0-9_-]*[A-Z])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"),
]
_SCRIPT = re.compile(r"(?is)<script\b.*?</script>")
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")


def _texts(nb: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(where, text, shape_scan) for everything a reader of the notebook file sees."""
    out: list[tuple[str, str, bool]] = []
    for i, cell in enumerate(nb["cells"]):
        for o in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if "text" in o:
                out.append((f"cell {i} stream", "".join(o["text"]), True))
            for mime, value in o.get("data", {}).items():
                text = "".join(value) if isinstance(value, list) else json.dumps(value)
                if mime == "text/html":
                    # viewers and maps are whole documents in srcdoc attributes: unescape
                    # them, then drop inline libraries and images (minified code and
                    # base64 are full of token-shaped strings)
                    for _ in range(2):
                        text = _DATA_URI.sub("", _SCRIPT.sub("", html.unescape(text)))
                    out.append((f"cell {i} {mime}", text, False))
                elif mime.startswith("text/") or mime.endswith("json"):
                    out.append((f"cell {i} {mime}", text, True))
    state = nb.get("metadata", {}).get("widgets", {})
    for model_id, model in state.get("application/vnd.jupyter.widget-state+json", {}) \
            .get("state", {}).items():
        for key, value in model.get("state", {}).items():
            if key.startswith("_") and key != "_options_labels":
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            out.append((f"widget {model_id} {key}", text, True))
    return out


def find_secrets(nb: dict[str, Any]) -> list[str]:
    """Places in a notebook's outputs and widget state that show a credential."""
    hits = []
    for where, text, shapes in _texts(nb):
        for m in _KEYED.finditer(text):
            if not re.search(r"[*…]", m.group("value")):
                hits.append(f"{where}: {m.group(0)[:60]}")
        for shape in _SHAPES if shapes else _SHAPES[:1]:
            for m in shape.finditer(text):
                hits.append(f"{where}: {m.group(0)[:16]}...")
    return hits


def _nb(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cells": [{"cell_type": "code", "source": "", "outputs": outputs}], "metadata": {}}


def test_the_scanner_catches_each_kind_of_leak() -> None:
    import secrets

    sk = "aB3" + secrets.token_urlsafe(32)[3:]
    leaks = [
        {"output_type": "stream", "name": "stdout", "text": [f"emulator key {sk}\n"]},
        {"output_type": "execute_result",
         "data": {"text/plain": "EmulatorInfo(secret_key='abcdefgh123')"}},
        {"output_type": "stream", "name": "stdout",
         "text": "token: eyJhbGciOiJIUzI1NiJ9.eyJvcmdhbml6YXRpb24ifQ.c2lnbmF0dXJlX2hlcmU\n"},
        {"output_type": "stream", "name": "stdout",
         "text": "aws wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"},
        {"output_type": "display_data",
         "data": {"text/html": "<td>sessionToken: FQoGZXIvYXdzEJr</td>"}},
    ]
    for leak in leaks:
        assert find_secrets(_nb([leak])), leak
    masked = {"output_type": "stream", "name": "stdout",
              "text": "secret_key=wJal****, user_token='eyJh…', sha "
                      "3368d505ce4741eb2c24c859fd88aa591a9c6d1865024e803d1cd69745572daa\n"}
    assert find_secrets(_nb([masked])) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_show_no_secret(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert find_secrets(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_real_service_instructions_name_settings_terranb_reads(path: Path) -> None:
    from terranb.config import ENV_VARS

    first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
    assert "real service" in first.lower()
    named = set(re.findall(r"`((?:DJI|TERRANB)_[A-Z0-9_]+)`", first))
    unknown = named - set(ENV_VARS.values())
    assert not unknown, (f"{path.name} tells users to set {sorted(unknown)}, "
                         "which terranb never reads")
