"""DJI XMP: find the drone's own fields in an XMP packet, whatever the prefix.

DJI firmware writes its flight data as XMP properties in the namespace
``http://www.dji.com/drone-dji/1.0/`` (prefix ``drone-dji:``); some older thermal
payloads (Zenmuse XT S) use ``http://www.dji.com`` with prefix ``DJI:`` and even
declare that namespace twice, which makes the packet invalid XML. So this module
does not use an XML parser: it finds the prefixes bound to a DJI namespace and
reads both the attribute form (``drone-dji:RelativeAltitude="+39.90"``) and the
element form (``<drone-dji:RelativeAltitude>+39.90</drone-dji:RelativeAltitude>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["DjiXmp", "find_xmp_packet", "parse_dji_xmp"]

_NS_DECL = re.compile(rb'xmlns:([A-Za-z_][\w.-]*)\s*=\s*["\'](http://www\.dji\.com[^"\']*)["\']')
_XMP_START = b"<x:xmpmeta"
_XMP_END = b"</x:xmpmeta>"


@dataclass
class DjiXmp:
    """The DJI properties of one XMP packet.

    Attributes:
        namespace: the prefix the values were found under (``"drone-dji"`` or ``"DJI"``),
            or ``None`` when the packet has no DJI namespace.
        values: property name (without prefix) -> raw string value.
        bad: property names whose value was present but not a number where one is expected.
    """

    namespace: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)

    def number(self, name: str) -> float | None:
        """A numeric property (``"+39.90"``, ``"1.900000"``), or ``None`` if absent or malformed."""
        raw = self.values.get(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            value = float(raw.strip())
        except ValueError:
            if name not in self.bad:
                self.bad.append(name)
            return None
        if value != value or value in (float("inf"), float("-inf")):
            if name not in self.bad:
                self.bad.append(name)
            return None
        return value

    def text(self, name: str) -> str | None:
        """A text property with surrounding blanks removed, or ``None`` if absent or empty."""
        raw = self.values.get(name)
        if raw is None:
            return None
        raw = raw.strip()
        return raw or None


_ENTITY = re.compile(r"&(?:#(\d+)|#x([0-9A-Fa-f]+)|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def xml_unescape(value: str) -> str:
    """XML's five entities and character references (``&amp;``, ``&#34;``, ``&#x22;``).

    Only what XML defines: HTML names such as ``&copy;`` are not XML and stay as written.
    A reference to a code point that cannot exist stays as written too.
    """
    def one(m: re.Match[str]) -> str:
        if m.group(3):
            return _NAMED[m.group(3)]
        code = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
        return chr(code) if 0 < code <= 0x10FFFF else m.group(0)

    return _ENTITY.sub(one, value) if "&" in value else value


def find_xmp_packet(segment: bytes) -> bytes | None:
    """The ``<x:xmpmeta>...</x:xmpmeta>`` part of an APP1 XMP segment body, if any."""
    start = segment.find(_XMP_START)
    if start < 0:
        return None
    end = segment.find(_XMP_END, start)
    return segment[start:] if end < 0 else segment[start:end + len(_XMP_END)]


def parse_dji_xmp(packet: bytes) -> DjiXmp:
    """Read every property in a DJI namespace from an XMP packet.

    The ``drone-dji`` prefix wins when a packet binds several DJI prefixes (the
    Zenmuse XT2 binds ``drone-dji`` and a ``FLIR`` namespace under dji.com; only
    ``drone-dji`` and ``DJI`` carry flight data).
    """
    prefixes: list[str] = []
    for m in _NS_DECL.finditer(packet):
        prefix = m.group(1).decode("ascii", "replace")
        uri = m.group(2).decode("ascii", "replace").rstrip("/")
        # http://www.dji.com/FLIR/1.0/ etc. are payload vendor namespaces, not flight data.
        flight_data = uri.endswith("drone-dji/1.0") or uri == "http://www.dji.com"
        if flight_data and prefix not in prefixes:
            prefixes.append(prefix)
    # Packets without declarations but with the usual prefixes still count.
    for guess in ("drone-dji", "DJI"):
        if guess not in prefixes and re.search(rb"[\s<]" + guess.encode() + rb":\w+", packet):
            prefixes.append(guess)
    result = DjiXmp()
    prefixes.sort(key=lambda p: 0 if p == "drone-dji" else 1)
    text = packet.decode("utf-8", "replace")
    for prefix in prefixes:
        esc = re.escape(prefix)
        found: dict[str, str] = {}
        patterns = (r"(?<![\w:-])" + esc + r':([A-Za-z_]\w*)\s*=\s*"([^"]*)"',
                    r"(?<![\w:-])" + esc + r":([A-Za-z_]\w*)\s*=\s*'([^']*)'",
                    r"<" + esc + r":([A-Za-z_]\w*)\s*>([^<]*)</" + esc + r":\1\s*>")
        for pattern in patterns:
            for hit in re.finditer(pattern, text):
                found.setdefault(hit.group(1), xml_unescape(hit.group(2)))
        if found:
            if result.namespace is None:
                result.namespace = prefix
            for k, v in found.items():
                result.values.setdefault(k, v)
    return result
