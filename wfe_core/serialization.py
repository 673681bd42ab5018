"""JSON serialization of workflow data and engine state, through one cattrs converter.

Workflow data may be an attrs class, a dataclass or a dict, holding nested objects, lists,
dicts, ``Decimal``, ``datetime``, ``date``, ``timedelta``, ``UUID``, enums and ``None``. Typed
fields are converted by their annotation; values of unknown type (a plain dict's values, a
pointer's persistence data, an event's data) are written with a small tag so that they come back
as the same type. Nothing is ever pickled.

Providers call :func:`dump_pointer` / :func:`load_pointer` and :func:`dump_value` /
:func:`load_value`; the host calls :func:`encode_data` / :func:`decode_data`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import attrs
from cattrs.preconf.json import JsonConverter
from cattrs.preconf.json import make_converter as _make_json_converter

from .errors import SerializationError
from ._models import ExecutionPointer, PointerStatus

__all__ = [
    "decode_data",
    "dump_pointer",
    "dump_value",
    "encode_data",
    "from_json_value",
    "load_pointer",
    "load_value",
    "make_converter",
    "pointer_from_dict",
    "pointer_to_dict",
    "to_json_value",
]

_TAG = "$wfe"
# One compact encoder for every write: json.dumps with any non-default argument builds a new
# JSONEncoder per call, which was a tenth of the event loop's time in a durable chain.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _type_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


@lru_cache(maxsize=256)
def _import_type(path: str) -> type | None:
    module, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, type) else None


def to_json_value(value: Any) -> Any:
    """Turn a value of unknown type into JSON-compatible form, tagging what JSON cannot hold."""
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, enum.Enum):
            return {_TAG: "enum", "t": _type_path(type(value)), "v": value.value}
        return value
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: to_json_value(v) for k, v in value.items()}
        return {_TAG: "map", "v": [[to_json_value(k), to_json_value(v)] for k, v in value.items()]}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, time):
        return {_TAG: "time", "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, uuid.UUID):
        return {_TAG: "uuid", "v": str(value)}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [to_json_value(v) for v in value]}
    if isinstance(value, frozenset):
        return {_TAG: "frozenset", "v": [to_json_value(v) for v in value]}
    if isinstance(value, set):
        return {_TAG: "set", "v": [to_json_value(v) for v in value]}
    if isinstance(value, enum.Enum):
        return {_TAG: "enum", "t": _type_path(type(value)), "v": to_json_value(value.value)}
    if isinstance(value, bytes):
        return {_TAG: "bytes", "v": value.hex()}
    if attrs.has(type(value)) or dataclasses.is_dataclass(value):
        path = _type_path(type(value))
        if _import_type(path) is not type(value):
            raise SerializationError(
                f"cannot store a {type(value).__qualname__}: its class cannot be imported back "
                f"as {path!r}; define it at module level"
            )
        return {_TAG: "obj", "t": path, "v": _converter.unstructure(value)}
    raise SerializationError(
        f"cannot store a value of type {type(value).__qualname__}: use an attrs class, a "
        "dataclass, a dict, a list or a JSON scalar (Decimal, datetime, date, timedelta, UUID "
        "and enums are supported too)"
    )


def from_json_value(value: Any) -> Any:
    """Reverse :func:`to_json_value`."""
    if isinstance(value, list):
        return [from_json_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: from_json_value(v) for k, v in value.items()}
    v: Any = value["v"]
    match tag:
        case "decimal":
            return Decimal(v)
        case "datetime":
            return datetime.fromisoformat(v)
        case "date":
            return date.fromisoformat(v)
        case "time":
            return time.fromisoformat(v)
        case "timedelta":
            return timedelta(days=v[0], seconds=v[1], microseconds=v[2])
        case "uuid":
            return uuid.UUID(v)
        case "tuple":
            return tuple(from_json_value(x) for x in v)
        case "set":
            return {from_json_value(x) for x in v}
        case "frozenset":
            return frozenset(from_json_value(x) for x in v)
        case "bytes":
            return bytes.fromhex(v)
        case "map":
            return {from_json_value(k): from_json_value(x) for k, x in v}
        case "enum":
            cls = _import_type(value["t"])
            return cls(from_json_value(v)) if cls is not None else from_json_value(v)
        case "obj":
            cls = _import_type(value["t"])
            return _converter.structure(v, cls) if cls is not None else from_json_value(v)
    return {k: from_json_value(x) for k, x in value.items()}


def _structure_timedelta(value: Any, _: Any) -> timedelta:
    if isinstance(value, list):
        return timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    return timedelta(seconds=value)


def make_converter() -> JsonConverter:
    """The cattrs converter wfe uses for everything it stores."""
    c = _make_json_converter()
    c.register_unstructure_hook(Decimal, str)
    c.register_structure_hook(Decimal, lambda v, _: Decimal(v) if not isinstance(v, float) else Decimal(str(v)))
    # [days, seconds, microseconds] is exact where float seconds are not.
    c.register_unstructure_hook(timedelta, lambda td: [td.days, td.seconds, td.microseconds])
    c.register_structure_hook(timedelta, _structure_timedelta)
    c.register_unstructure_hook(time, lambda t: t.isoformat())
    c.register_structure_hook(time, lambda v, _: time.fromisoformat(v))
    c.register_unstructure_hook(uuid.UUID, str)
    c.register_structure_hook(uuid.UUID, lambda v, _: uuid.UUID(v))
    c.register_unstructure_hook_func(lambda t: t is Any, to_json_value)
    c.register_structure_hook_func(lambda t: t is Any, lambda v, _: from_json_value(v))
    return c


_converter = make_converter()


def _is_untyped(data_type: Any) -> bool:
    return data_type in (None, Any, dict, object) or getattr(data_type, "__origin__", None) is dict


def encode_data(data: Any, data_type: Any = None) -> str:
    """Workflow data as a JSON string.

    Raises:
        SerializationError: the data holds something that cannot be stored.
    """
    try:
        if data is None:
            return "null"
        if _is_untyped(data_type) or not (attrs.has(type(data)) or dataclasses.is_dataclass(data)):
            return _dumps(to_json_value(data))
        return _dumps(_converter.unstructure(data, data_type or type(data)))
    except SerializationError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise SerializationError(
            f"cannot serialize workflow data of type {type(data).__qualname__}: {exc}"
        ) from exc


def decode_data(text: str | None, data_type: Any = None) -> Any:
    """Rebuild workflow data from :func:`encode_data`'s JSON, as ``data_type`` when given."""
    if text is None:
        return None
    try:
        raw = json.loads(text)
        if raw is None:
            return None
        if _is_untyped(data_type) or (isinstance(raw, dict) and _TAG in raw):
            return from_json_value(raw)
        return _converter.structure(raw, data_type)
    except Exception as exc:  # cattrs raises several unrelated types
        raise SerializationError(
            f"cannot rebuild workflow data as {getattr(data_type, '__qualname__', data_type)}: {exc}"
        ) from exc


def pointer_to_dict(pointer: ExecutionPointer) -> dict[str, Any]:
    """One execution pointer as a fresh JSON-compatible dict (shares nothing with it).

    Written by hand rather than by cattrs because it runs for every pointer of every pass:
    fields at their default are left out, which halves the stored size too.
    """
    p = pointer
    out: dict[str, Any] = {"id": p.id, "step_id": p.step_id}
    if not p.active:
        out["active"] = False
    if p.status is not PointerStatus.PENDING:
        out["status"] = p.status.value
    if p.sleep_until is not None:
        out["sleep_until"] = p.sleep_until.isoformat()
    if p.persistence_data is not None:
        out["persistence_data"] = to_json_value(p.persistence_data)
    if p.start_time is not None:
        out["start_time"] = p.start_time.isoformat()
    if p.end_time is not None:
        out["end_time"] = p.end_time.isoformat()
    if p.event_name is not None:
        out["event_name"] = p.event_name
    if p.event_key is not None:
        out["event_key"] = p.event_key
    if p.event_published:
        out["event_published"] = True
    if p.event_data is not None:
        out["event_data"] = to_json_value(p.event_data)
    if p.step_name is not None:
        out["step_name"] = p.step_name
    if p.retry_count:
        out["retry_count"] = p.retry_count
    if p.children:
        out["children"] = list(p.children)
    if p.context_item is not None:
        out["context_item"] = to_json_value(p.context_item)
    if p.predecessor_id is not None:
        out["predecessor_id"] = p.predecessor_id
    if p.outcome is not None:
        out["outcome"] = to_json_value(p.outcome)
    if p.scope:
        out["scope"] = list(p.scope)
    if p.extension_attributes:
        out["extension_attributes"] = to_json_value(p.extension_attributes)
    return out


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def pointer_from_dict(raw: dict[str, Any]) -> ExecutionPointer:
    """Reverse :func:`pointer_to_dict` (also reads pointers stored with every field)."""
    get = raw.get
    return ExecutionPointer(
        id=raw["id"],
        step_id=get("step_id", 0),
        active=get("active", True),
        status=PointerStatus(get("status", "pending")),
        sleep_until=_time(get("sleep_until")),
        persistence_data=from_json_value(get("persistence_data")),
        start_time=_time(get("start_time")),
        end_time=_time(get("end_time")),
        event_name=get("event_name"),
        event_key=get("event_key"),
        event_published=get("event_published", False),
        event_data=from_json_value(get("event_data")),
        step_name=get("step_name"),
        retry_count=get("retry_count", 0),
        children=list(get("children") or ()),
        context_item=from_json_value(get("context_item")),
        predecessor_id=get("predecessor_id"),
        outcome=from_json_value(get("outcome")),
        scope=list(get("scope") or ()),
        extension_attributes=from_json_value(get("extension_attributes")) or {},
    )


def dump_pointer(pointer: ExecutionPointer) -> str:
    """One execution pointer as a JSON string."""
    return _dumps(pointer_to_dict(pointer))


def load_pointer(text: str) -> ExecutionPointer:
    """Rebuild an execution pointer from :func:`dump_pointer`'s JSON."""
    return pointer_from_dict(json.loads(text))


def dump_value(value: Any) -> str:
    """Any storable value as a JSON string (event data, subscription data)."""
    return _dumps(to_json_value(value))


def load_value(text: str | None) -> Any:
    """Reverse :func:`dump_value`."""
    return None if text is None else from_json_value(json.loads(text))
