"""The vendored browser libraries (three.js, Leaflet), ready to inline into HTML.

The files under ``terranb/viz/vendor/`` are unmodified npm builds (origin and
checksums in ``vendor/README.md``). Inlining them is what lets a viewer or map
work with the network off: in a saved report, nbconvert export, Binder or VS Code.
"""

from __future__ import annotations

import base64
import functools
import re
from importlib import resources

__all__ = [
    "LEAFLET_VERSION", "THREE_VERSION", "leaflet_css", "leaflet_js", "read_vendored", "three_js",
]

THREE_VERSION = "0.160.1"
LEAFLET_VERSION = "1.9.4"

_SOURCE_MAP = re.compile(r"\n?//# sourceMappingURL=\S*\s*$")


def read_vendored(name: str) -> bytes:
    """Bytes of a vendored file shipped in ``terranb/viz/vendor``."""
    return resources.files("terranb.viz").joinpath("vendor", name).read_bytes()


def _script_safe(js: str) -> str:
    # A literal "</script" inside an inline script would end the element early.
    return _SOURCE_MAP.sub("", js).replace("</script", "<\\/script")


@functools.lru_cache(maxsize=1)
def three_js() -> str:
    """three.js r160 UMD build (defines ``window.THREE``), safe to put in ``<script>``."""
    return _script_safe(read_vendored("three.min.js").decode("utf-8"))


@functools.lru_cache(maxsize=1)
def leaflet_js() -> str:
    """Leaflet 1.9.4 (defines ``window.L``), safe to put in ``<script>``."""
    return _script_safe(read_vendored("leaflet.js").decode("utf-8"))


@functools.lru_cache(maxsize=1)
def leaflet_css() -> str:
    """Leaflet's stylesheet with its ``url(images/x.png)`` turned into data URIs."""
    css = read_vendored("leaflet.css").decode("utf-8")

    def inline(match: re.Match[str]) -> str:
        name = match.group(1)
        data = base64.b64encode(read_vendored(f"leaflet-images/{name}")).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)
