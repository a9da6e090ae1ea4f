"""How the API models read a wire dict: one field reader, one conversion rule per type.

Every model in ``models*.py`` is a frozen dataclass whose field types say how its
wire value is read, so most models need no parsing code of their own
(:class:`WireModel` gives them ``from_api``):

======================  ===========================================================
field type              wire value becomes
======================  ===========================================================
``str``                 ``str(value)``
``int`` / ``float``     the number; a value that is not one gives the default
``bool``                ``bool(value)``
``datetime``            :func:`parse_time` (RFC 3339, ``yyyy-MM-dd HH:mm:ss``, unix time)
``tuple[str, ...]``     a tuple of strings (one string becomes a 1-tuple)
``dict[...]``           a copy of a JSON object, else the default
a tolerant IntEnum      ``Enum.parse(value)`` (unknown numbers become ``UNKNOWN``)
======================  ===========================================================

An absent key or a JSON ``null`` gives the field's default (``X | None`` fields
therefore stay ``None``). The wire key is the attribute name (FlightHub 2 and the
Cloud API are snake_case) or, for TerraAPI (``camel = True``), its camelCase,
matched case-insensitively as DJI's Go backend does (protocol.md §1.9). Keys no
field reads are kept in ``extra`` and, for a :class:`RawWireModel`, the decoded dict
in ``raw``, so a newer server does not break an older client. Both are declared once,
here, as keyword-only fields (so a model's own fields keep their order in its
constructor).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

__all__ = [
    "RawWireModel", "WireFields", "WireModel", "from_wire", "number", "parse_time", "short_id",
    "text",
]

_T = TypeVar("_T")
_M = TypeVar("_M", bound="WireModel")


class WireFields:
    """A view of a wire dict that remembers which keys were read (the rest is ``extra``)."""

    def __init__(self, data: Mapping[str, Any] | None, case_insensitive: bool = True) -> None:
        self.data = dict(data or {})
        self.ci = case_insensitive
        self._index = {(k.lower() if case_insensitive else k): k for k in self.data}
        self.used: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name`` (``default`` when absent or ``null``); marks it read."""
        key = self._index.get(name.lower() if self.ci else name)
        if key is None:
            return default
        self.used.add(key)
        value = self.data[key]
        return default if value is None else value

    def mapping(self, name: str) -> Mapping[str, Any]:
        """The JSON object at ``name``; empty when it is absent, ``null`` or not an object."""
        value = self.get(name)
        return value if isinstance(value, Mapping) else {}

    def extra(self) -> dict[str, Any]:
        """The keys nobody read."""
        return {k: v for k, v in self.data.items() if k not in self.used}


# Unix time as text: at least 9 integer digits (after 1973), so that a compact ISO date
# such as ``20240301`` is not read as seconds.
_UNIX_DIGITS = re.compile(r"\d{9,}(\.\d*)?")


def _unix_time(stamp: float) -> datetime | None:
    """Unix seconds, or milliseconds (DJI services send both), as an aware UTC time."""
    if stamp > 1e11:  # 1e11 seconds is the year 5138: this is milliseconds
        stamp /= 1000
    try:
        return datetime.fromtimestamp(stamp, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 time (``2024-01-01T00:00:00Z``, any fraction), a
    ``yyyy-MM-dd HH:mm:ss`` Cloud API time or unix seconds or milliseconds (a number
    or numeric text); ``None`` for empty or unparseable values.

    Example:
        >>> parse_time("2024-03-01T10:00:00.123456789+08:00").isoformat()
        '2024-03-01T10:00:00.123456+08:00'
    """
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _unix_time(float(value))
    if _UNIX_DIGITS.fullmatch(str(value).strip()):
        return _unix_time(float(value))  # FlightHub 2 sends some times as numeric text
    text = str(value).strip().replace(" ", "T", 1) if "T" not in str(value) else str(value).strip()
    tz: timezone | None = None
    if text.endswith(("Z", "z")):
        text, tz = text[:-1], timezone.utc
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        sign = 1 if text[-6] == "+" else -1
        try:
            hours, minutes = int(text[-5:-3]), int(text[-2:])
        except ValueError:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        text = text[:-6]
    if "." in text:
        # Go writes up to 9 fraction digits; Python 3.10 accepts exactly 3 or 6.
        head, frac = text.split(".", 1)
        text = f"{head}.{(frac + '000000')[:6]}"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt.replace(tzinfo=tz) if tz is not None else dt


def short_id(uuid: str) -> str:
    """A uuid shortened for a repr (the first 8 characters and an ellipsis)."""
    return uuid if len(uuid) <= 13 else uuid[:8] + "…"


def text(value: Any) -> str:
    """``""`` for ``None``, else ``str(value)``."""
    return "" if value is None else str(value)


def number(value: Any, kind: Callable[[Any], Any] = float) -> Any:
    """``None`` for ``None``, else ``kind(value)`` (0 when it is not a number)."""
    return None if value is None else _number(kind)(value, None)


def _number(kind: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def read(value: Any, default: Any) -> Any:
        try:
            return kind(value)
        except (TypeError, ValueError):
            return kind(0) if default is None else default
    return read


def _str_tuple(value: Any, default: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


# type -> (read a non-null wire value given the field's default, the value of a required field
# the wire leaves out)
_READERS: dict[Any, tuple[Callable[[Any, Any], Any], Any]] = {
    str: (lambda v, d: str(v), ""),
    int: (_number(int), 0),
    float: (_number(float), 0.0),
    bool: (lambda v, d: bool(v), False),
    datetime: (lambda v, d: parse_time(v), None),
    tuple: (_str_tuple, ()),
    dict: (lambda v, d: dict(v) if isinstance(v, Mapping) else d, None),
}


def _reader(tp: Any) -> tuple[Callable[[Any, Any], Any] | None, Any]:
    if isinstance(tp, types.UnionType):  # X | None: read as X (None stays the default)
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    origin = typing.get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, enum.Enum) and hasattr(origin, "parse"):
        return (lambda v, d, parse=origin.parse: parse(v)), origin.parse(None)
    return _READERS.get(origin, (None, None))  # e.g. a nested model: the model reads it


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_Plan = tuple[tuple[str, str, Callable[[Any, Any], Any] | None, Any], ...]


@functools.cache
def _plan(cls: type, camel: bool) -> _Plan:
    """(attribute, wire key, reader, default) of each field ``cls`` reads from the wire."""
    hints = typing.get_type_hints(cls)
    plan = []
    for f in dataclasses.fields(cls):
        if f.name in ("extra", "raw") or not f.init:
            continue
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: a wire field needs a plain default")
        read, zero = _reader(hints[f.name])
        default = zero if f.default is dataclasses.MISSING else f.default
        plan.append((f.name, _camel(f.name) if camel else f.name, read, default))
    return tuple(plan)


def from_wire(cls: type[_T], fields: WireFields, camel: bool = False, **given: Any) -> _T:
    """Build the dataclass ``cls`` from ``fields`` by its field types (module docstring).

    ``given`` holds the values a model computes itself (a nested object, a key that
    differs between two shapes of one answer); read their keys through ``fields``
    first so that they do not land in ``extra``.
    """
    kind: type = cls
    values: dict[str, Any] = {}
    for name, key, read, default in _plan(kind, camel):
        if name not in given:
            if read is None:
                raise TypeError(f"{kind.__name__}.{name}: no wire reader for its type; "
                                "return it from _given()")
            value = fields.get(key)
            values[name] = default if value is None else read(value, default)
    names = {f.name for f in dataclasses.fields(kind)}
    if "extra" in names:
        values["extra"] = fields.extra()
    if "raw" in names:
        values["raw"] = dict(fields.data)
    return cls(**values, **given)


def _is_id(name: str) -> bool:
    return name in ("uuid", "id") or name.endswith(("_uuid", "_id"))


def _repr_value(model: Any, name: str, secret: bool) -> str:
    """How a model's repr shows one attribute (the rules of :meth:`WireModel.__repr__`)."""
    value = getattr(model, name)
    if secret:
        # a token, password or presigned URL: only whether it is there
        return "yes" if value else "no"
    if isinstance(value, str) and _is_id(name):
        return repr(short_id(value))
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (tuple, list, dict)):
        return f"{len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, float):
        return format(value, ".4g")
    return repr(value)


@dataclasses.dataclass(frozen=True)
class WireModel:
    """Base of the API models: ``from_api`` reads a wire dict by the field types.

    A model whose wire shape needs more than its field types (two spellings of one
    key, a nested object) overrides :meth:`_given` and returns those values.
    ``extra`` holds the keys no field read.

    Its repr shows the attributes named in ``_repr_fields`` (default: every field
    with ``repr=True``), the first bare (the model's id), the others as ``name=value``:
    ids (``uuid``, ``id``, ``*_uuid``, ``*_id``) shortened by :func:`short_id`, enums by
    name, collections by their length. A field declared ``repr=False`` is a secret (a
    token, a password, a presigned URL): listed, it shows only ``yes`` or ``no``.
    """

    _camel: ClassVar[bool] = False
    _repr_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # @dataclass writes its own __repr__ unless the class body has one, so every
        # model gets this one here, before its decorator runs.
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = WireModel.__repr__  # type: ignore[method-assign]

    def __repr__(self) -> str:
        fields = {f.name: f for f in dataclasses.fields(self)}
        names = self._repr_fields or tuple(n for n, f in fields.items() if f.repr)
        shown = [_repr_value(self, n, n in fields and not fields[n].repr) for n in names]
        parts = shown[:1] + [f"{n}={v}" for n, v in zip(names[1:], shown[1:], strict=True)]
        return f"{type(self).__name__}({', '.join(parts)})"

    extra: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False,
                                              kw_only=True)

    @classmethod
    def from_api(cls: type[_M], data: Any) -> _M:
        """Build from the decoded JSON object the service answered (anything else reads as
        an empty object, so a ``null`` or malformed ``data`` gives the defaults)."""
        fields = WireFields(data if isinstance(data, Mapping) else None,
                            case_insensitive=cls._camel)
        return from_wire(cls, fields, cls._camel, **cls._given(fields))

    @classmethod
    def _given(cls, fields: WireFields) -> dict[str, Any]:
        return {}


@dataclasses.dataclass(frozen=True)
class RawWireModel(WireModel):
    """A :class:`WireModel` that also keeps the whole decoded answer in ``raw``.

    Not for an answer that carries secrets (the Cloud API login): ``raw`` would hold them.
    """

    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False,
                                            kw_only=True)
