"""JSON serialization of workflow data and engine state, through one cattrs converter.

Workflow data may be an attrs class, a dataclass or a dict, holding nested objects, lists,
dicts, ``Decimal``, ``datetime``, ``date``, ``timedelta``, ``UUID``, enums and ``None``. Typed
fields are converted by their annotation; values of unknown type (a plain dict's values, a field
typed ``Any``, ``object``, bare ``dict`` or ``list``, a pointer's persistence data, an event's
data) are written with a small tag so that they come back as the same type. Nothing is ever
pickled.

What cannot come back exactly is refused when it is stored, with a :class:`SerializationError`
that names its path, why, and what to do: a value of an unknown type, a reference cycle, more
than :data:`MAX_DEPTH` levels of nesting, an integer too long for Python to read back.

Providers call :func:`dump_pointer` / :func:`load_pointer` and :func:`dump_value` /
:func:`load_value`; the host calls :func:`encode_data` / :func:`decode_data`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import operator
import sys
import types
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from itertools import repeat
from typing import Annotated, Any, Literal, NoReturn, Union, get_args, get_origin, get_type_hints

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override
from cattrs.preconf.json import JsonConverter
from cattrs.preconf.json import make_converter as _make_json_converter

from ._models import ExecutionPointer, HostRecord, PointerStatus
from .errors import SerializationError

__all__ = [
    "MAX_DEPTH",
    "decode_data",
    "dump_host",
    "dump_pointer",
    "dump_value",
    "encode_data",
    "from_json_value",
    "load_host",
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
_encoder = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _compact_dumps() -> Callable[[Any], str]:
    """``_encoder.encode``, calling json's C encoder directly where the interpreter has one.

    ``JSONEncoder.encode`` builds its C encoder anew on every call, in Python: three encodes
    a step (the data, two pointers) made that a tenth of a SQLite pass's opcodes. Values
    reach it from ``_encode`` or cattrs, with their depth bounded, so there is no cycle to
    look for (a cycle would still end in ``RecursionError``). Falls back to ``encode`` when
    the C encoder is missing or answers otherwise than it (checked once, here).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _encoder.encode
    try:
        chunks = make(None, _encoder.default, json.encoder.encode_basestring_ascii, None,
                      ":", ",", False, False, True)
    except TypeError:  # another signature
        return _encoder.encode

    def dumps(value: Any) -> str:
        return "".join(chunks(value, 0))

    sample = {"a": [1, -2.5, None, True, False, "\u00e9\u2028\"\n", 1e300], "b": {}, "c": []}
    try:
        values: tuple[Any, ...] = (sample, "x", 3, None, [], 0.1)
        same = all(dumps(v) == _encoder.encode(v) for v in values)
    except Exception:
        same = False
    return dumps if same else _encoder.encode


_dumps = _compact_dumps()

MAX_DEPTH = 128
"""How many containers and objects wfe stores inside one another (serde_json's limit too).

A list, tuple, set, dict or object is one level. Reading back costs a few stack frames per
level, so this stays far below Python's recursion limit (1,000): whatever is stored loads
back, in any process. Deeper data is refused when it is stored, with the path to where it
goes too deep.
"""

# Python reads back no integer of more digits than this from JSON text (``int("1" * 4301)``
# raises ValueError). A process may raise its own limit, but another one may not have: wfe
# keeps to the default, so that every process can read what any one stored.
_INT_DIGITS = sys.int_info.default_max_str_digits
_INT_BOUND = 10**_INT_DIGITS
_PLAIN = frozenset({str, float, bool, type(None)})

_TOO_DEEP = (
    f"is nested more than {MAX_DEPTH} levels deep (lists, tuples, sets, dicts and objects "
    f"inside one another); wfe stores at most {MAX_DEPTH} levels so that it can always read "
    "them back: flatten it, e.g. into a list of records that refer to each other by id"
)
_HUGE_INT = (
    f"is an integer of more than {_INT_DIGITS} digits, which Python cannot read back from "
    "JSON: store it as a Decimal (Decimal(n) is exact) or split it into smaller numbers"
)
_SUPPORTED = (
    "use an attrs class, a dataclass, a dict, a list or a JSON scalar (Decimal, datetime, "
    "date, time, timedelta, UUID, bytes, tuples, sets and enums are supported too)"
)


class _Refused(SerializationError):
    """Raised where encoding meets a value it cannot store; the entry point adds the path."""

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(f"cannot store a value: it {reason}")
        self.value = value
        self.reason = reason


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


def _is_object(value: Any) -> bool:
    cls = type(value)
    return (attrs.has(cls) or dataclasses.is_dataclass(cls)) and not isinstance(value, type)


def _unknown(value: Any) -> str:
    if isinstance(value, type):
        return f"is the class {value.__qualname__}, which wfe cannot store: store its name instead"
    return f"is of type {type(value).__qualname__}, which wfe cannot store: {_SUPPORTED}"


def _encode(value: Any, depth: int) -> Any:
    """:func:`to_json_value` at ``depth`` containers down; raises :class:`_Refused`."""
    # Exact type checks first: they are the common case, and far cheaper than isinstance.
    cls = type(value)
    if cls in _PLAIN:
        return value
    if cls is int:
        if -_INT_BOUND < value < _INT_BOUND:
            return value
        raise _Refused(value, _HUGE_INT)
    # map() rather than comprehensions: a comprehension here would make ``depth`` a closure
    # cell, one more object allocated on every call (every pass encodes its data).
    if cls is list:
        if depth >= MAX_DEPTH:
            raise _Refused(value, _TOO_DEEP)
        return list(map(_encode, value, repeat(depth + 1)))
    if cls is dict:
        if depth >= MAX_DEPTH:
            raise _Refused(value, _TOO_DEEP)
        if _TAG not in value and all(type(k) is str for k in value):
            return dict(zip(value, map(_encode, value.values(), repeat(depth + 1))))
        return _encode_map(value, depth + 1)
    return _encode_other(value, depth)


def _encode_map(value: dict[Any, Any], depth: int) -> Any:
    """A dict whose keys are not all strings (or that holds wfe's tag) as tagged pairs."""
    return {_TAG: "map", "v": [[_encode(k, depth), _encode(v, depth)] for k, v in value.items()]}


def _encode_other(value: Any, depth: int) -> Any:
    if isinstance(value, enum.Enum):
        return {_TAG: "enum", "t": _type_path(type(value)), "v": _encode(value.value, depth)}
    if isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        if -_INT_BOUND < value < _INT_BOUND:
            return value
        raise _Refused(value, _HUGE_INT)
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
    if isinstance(value, bytes):
        return {_TAG: "bytes", "v": value.hex()}
    is_object = _is_object(value)
    if is_object or isinstance(value, (list, tuple, set, frozenset, dict)):
        if depth >= MAX_DEPTH:
            raise _Refused(value, _TOO_DEEP)
        depth += 1
    else:
        raise _Refused(value, _unknown(value))
    if isinstance(value, list):
        return [_encode(v, depth) for v in value]
    if isinstance(value, dict):
        return _encode(dict(value), depth - 1)
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_encode(v, depth) for v in value]}
    if isinstance(value, frozenset):
        return {_TAG: "frozenset", "v": [_encode(v, depth) for v in value]}
    if isinstance(value, set):
        return {_TAG: "set", "v": [_encode(v, depth) for v in value]}
    path = _type_path(type(value))
    if _import_type(path) is not type(value):
        raise _Refused(
            value,
            f"is a {type(value).__qualname__}, whose class cannot be imported back as "
            f"{path!r}: define it at module level",
        )
    # Its typed fields go by their annotations; its untyped ones (Any, object, bare
    # containers) start counting levels afresh, so a cycle through objects ends in a
    # RecursionError, which the entry points turn into the same error as too deep.
    return {_TAG: "obj", "t": path, "v": _converter.unstructure(value)}


def _encode_root(value: Any) -> Any:
    return _encode(value, 0)


# -- saying what is wrong and where (only when something is) ----------------------------------

_REFUSALS = (SerializationError, RecursionError, ValueError, TypeError, AttributeError)
_NO_TARGET = object()


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # an int too long to print, a repr that fails, one nested too deep
        return f"<{type(value).__qualname__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _children(value: Any) -> Iterator[tuple[str, Any]] | None:
    """Path segments and values inside ``value``, or None for a leaf."""
    if isinstance(value, (str, bytes, enum.Enum)):
        return None
    if isinstance(value, (list, tuple)):
        return ((f"[{i}]", v) for i, v in enumerate(value))
    if isinstance(value, dict):
        return _items(value)
    if isinstance(value, (set, frozenset)):
        return (("{" + _short(v) + "}", v) for v in value)
    if attrs.has(type(value)) and not isinstance(value, type):
        return ((f".{a.name}", getattr(value, a.name, None)) for a in attrs.fields(type(value)))
    if _is_object(value):
        return ((f".{f.name}", getattr(value, f.name, None)) for f in dataclasses.fields(value))
    return None


def _items(value: dict[Any, Any]) -> Iterator[tuple[str, Any]]:
    for k, v in value.items():
        if type(k) is not str:
            yield f"[{_short(k)}] (the key)", k
        yield f"[{_short(k)}]", v


def _leaf_problem(value: Any) -> str | None:
    """What is wrong with ``value`` itself wherever it is (not with what it holds)."""
    if type(value) in _PLAIN:
        return None
    if isinstance(value, int) and not isinstance(value, enum.Enum):
        return None if -_INT_BOUND < value < _INT_BOUND else _HUGE_INT
    if isinstance(
        value,
        (str, float, Decimal, date, time, timedelta, uuid.UUID, bytes, enum.Enum,
         list, tuple, set, frozenset, dict),
    ) or _is_object(value):
        return None
    return _unknown(value)


def _join(segments: list[str]) -> str:
    if len(segments) <= 16:
        return "".join(segments)
    return "".join(segments[:9]) + f"...({len(segments) - 13} more)..." + "".join(segments[-4:])


def _find_problem(
    root: Any, name: str, target: Any = _NO_TARGET, reason: str = "", too_deep: bool = False
) -> str | None:
    """Walk ``root`` (without recursion: it may be very deep) to the first problem.

    ``target`` is the value the encoder refused, for ``reason``. Problems that hold wherever
    they are (a cycle, an unknown type, a huge int) are found too; a level deeper than
    :data:`MAX_DEPTH` is one only when ``too_deep`` is set: objects' typed fields do not
    count towards the encoder's levels, so the walk counts more than it does.
    """
    limit = MAX_DEPTH if too_deep else 4 * MAX_DEPTH
    # A container may sit at several depths (shared, or in a cycle): a "too deep" one is
    # the one found that deep.
    deep_only = reason is _TOO_DEEP
    found = reason if root is target and not deep_only else _leaf_problem(root)
    kids = _children(root)
    if found or kids is None:
        return f"{name} {found}" if found else None
    path, ids, stack = [name], [id(root)], [kids]
    while stack:
        for segment, child in stack[-1]:
            break
        else:
            stack.pop()
            path.pop()
            ids.pop()
            continue
        kids = _children(child)
        if kids is not None and id(child) in ids:
            back = _join(path[: ids.index(id(child)) + 1])
            return (
                f"{_join([*path, segment])} is {back} again, which holds it: a reference cycle, "
                "which JSON cannot hold; store a copy or an id that refers to it instead"
            )
        if child is target and (not deep_only or len(stack) >= MAX_DEPTH):
            found = reason
        else:
            found = _leaf_problem(child)
        if found:
            return f"{_join([*path, segment])} {found}"
        if kids is None:
            continue
        if len(stack) >= limit:
            if too_deep:
                return f"{_join([*path, segment])} {_TOO_DEEP}"
            continue
        path.append(segment)
        ids.append(id(child))
        stack.append(kids)
    return None


def _explain(exc: BaseException, what: str, roots: Iterable[tuple[str, Any]]) -> SerializationError:
    """The error for a failed encode of ``roots``: what, where, why and what to do."""
    roots = list(roots)
    if isinstance(exc, _Refused):
        walks = [(exc.value, exc.reason, False)]
    else:  # something failed, the encoder did not say what: look for what it could be
        walks = [(_NO_TARGET, "", False), (_NO_TARGET, "", True)]
    for target, reason, too_deep in walks:
        for name, root in roots:
            found = _find_problem(root, name, target, reason, too_deep)
            if found:
                return SerializationError(f"cannot store {what}: {found}")
    if isinstance(exc, _Refused):
        return SerializationError(f"cannot store {what}: a value in it {reason}")
    if isinstance(exc, RecursionError):
        return SerializationError(f"cannot store {what}: it {_TOO_DEEP}")
    if isinstance(exc, SerializationError):
        return exc
    return SerializationError(f"cannot store {what}: {type(exc).__name__}: {exc}")


def _raise(exc: BaseException, what: str, roots: Iterable[tuple[str, Any]]) -> NoReturn:
    # The explanation says all that the encoder's own refusal did, and more; a
    # RecursionError's traceback is a thousand frames of no interest.
    cause = None if isinstance(exc, (_Refused, RecursionError)) else exc
    raise _explain(exc, what, roots) from cause


# -- values of unknown type ---------------------------------------------------------------------


def to_json_value(value: Any) -> Any:
    """Turn a value of unknown type into JSON-compatible form, tagging what JSON cannot hold.

    Raises:
        SerializationError: the value (or something in it) cannot be stored; the message
            gives its path, why, and what to do.
    """
    try:
        return _encode(value, 0)
    except _REFUSALS as exc:
        _raise(exc, "the value", [("value", value)])


def from_json_value(value: Any) -> Any:
    """Reverse :func:`to_json_value`."""
    cls = type(value)
    if cls is list:
        return [from_json_value(v) for v in value]
    if cls is not dict:
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
            enum_cls = _import_type(value["t"])
            return enum_cls(from_json_value(v)) if enum_cls is not None else from_json_value(v)
        case "obj":
            obj_cls = _import_type(value["t"])
            return _converter.structure(v, obj_cls) if obj_cls is not None else from_json_value(v)
    return {k: from_json_value(x) for k, x in value.items()}


# -- the converter ------------------------------------------------------------------------------

_CONTAINERS = (dict, list, tuple, set, frozenset)
_ANY = (Any, object)
_ANY_FORMS: dict[Any, Any] = {
    dict: dict[Any, Any],
    list: list[Any],
    tuple: tuple[Any, ...],
    set: set[Any],
    frozenset: frozenset[Any],
}


def _untyped_container(hint: Any) -> type | None:
    """``dict``, ``list[Any]``, ``dict[str, object]``, ``typing.Tuple``...: the container
    whose items say nothing of their type, or None for any other hint."""
    origin = get_origin(hint) or hint
    if origin not in _CONTAINERS:
        return None
    args = get_args(hint)
    if origin is dict and len(args) == 2 and args[0] is str:
        args = args[1:]
    return origin if all(a in _ANY or a is Ellipsis for a in args) else None


def _is_untyped_form(hint: Any) -> bool:
    # Never the bare classes: cattrs also unstructures by the value's class (a union, a field
    # of a recursive class), and a list of attrs objects found that way must stay as it was.
    # Fields typed with a bare class get the explicit form instead (_exact_hint).
    return hint not in _CONTAINERS and _untyped_container(hint) is not None


def _holds_untyped(hint: Any) -> bool:
    if hint in _ANY or _untyped_container(hint) is not None:
        return True
    if get_origin(hint) in (Annotated, Literal):
        return False
    return any(_holds_untyped(a) for a in get_args(hint) if a is not Ellipsis)


def _exact_hint(hint: Any) -> Any:
    """``hint`` with each bare container in it made explicit: ``dict`` is ``dict[Any, Any]``,
    ``list[dict] | None`` is ``list[dict[Any, Any]] | None``. A union of more than one type
    with an untyped part is ``Any``: cattrs would convert it by the value's class, and lose
    what the untyped part holds."""
    try:
        if hint in _ANY_FORMS:
            return _ANY_FORMS[hint]
    except TypeError:  # an unhashable hint: nothing of ours
        return hint
    args = get_args(hint)
    origin = get_origin(hint)
    if not args or origin in (Annotated, Literal):
        return hint
    exact = tuple(_exact_hint(a) for a in args)
    if origin in (Union, types.UnionType):
        members = [e for e in exact if e is not type(None)]
        if len(members) > 1 and any(_holds_untyped(m) for m in members):
            return Any
    if all(e is a for e, a in zip(exact, args)):
        return hint
    try:
        if origin in (Union, types.UnionType):
            return Union[exact]  # noqa: UP007
        if isinstance(hint, types.GenericAlias):
            return types.GenericAlias(origin, exact)
        return hint.copy_with(exact)
    except (TypeError, AttributeError):
        return hint


def _is_loose_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType) and _exact_hint(hint) is Any


@cache
def _exact_fields(cls: type) -> dict[str, Any]:
    """The fields of an attrs class or dataclass whose types hold a bare container, with the
    explicit form of their type (cached: cattrs asks once per class)."""
    try:
        if attrs.has(cls):
            attrs.resolve_types(cls)
            hints = {a.name: a.type for a in attrs.fields(cls)}
        else:
            names = {f.name for f in dataclasses.fields(cls)}
            hints = {k: v for k, v in get_type_hints(cls).items() if k in names}
    except Exception:  # unresolvable annotations: cattrs decides, as before
        return {}
    exact = {name: _exact_hint(hint) for name, hint in hints.items()}
    return {name: e for name, e in exact.items() if e is not hints[name]}


def _has_exact_fields(cls: Any) -> bool:
    return isinstance(cls, type) and (attrs.has(cls) or dataclasses.is_dataclass(cls)) and bool(
        _exact_fields(cls)
    )


def _unstructure_untyped(hint: Any) -> Callable[[Any], Any]:
    kind: Any = _untyped_container(hint)
    if kind is dict:
        return _encode_root

    def unstructure(value: Any) -> Any:
        # A JSON array of tagged items, as before for plain items; anything else is tagged
        # whole (a tuple in a list field comes back a tuple, None comes back None).
        if type(value) is kind:
            return [_encode(v, 1) for v in value]
        return _encode(value, 0)

    return unstructure


def _structure_untyped(hint: Any) -> Callable[[Any, Any], Any]:
    kind = _untyped_container(hint)
    assert kind is not None

    def structure(raw: Any, _: Any) -> Any:
        if type(raw) is not list or kind is dict:
            return from_json_value(raw)
        items = [from_json_value(v) for v in raw]
        return items if kind is list else kind(items)

    return structure


def _lazy_hook(c: JsonConverter, hint: Any) -> Callable[[Any], Any]:
    # Looked up at the first call, not while cattrs builds the class's function: the hint may
    # hold the class itself (a tree), whose function is not there yet.
    hook: Callable[[Any], Any] | None = None

    def unstructure(value: Any) -> Any:
        nonlocal hook
        if hook is None:
            hook = c.get_unstructure_hook(hint)
        return hook(value)

    return unstructure


def _unstructure_exact_fields(c: JsonConverter) -> Callable[[type], Callable[[Any], Any]]:
    def factory(cls: type) -> Callable[[Any], Any]:
        overrides = {
            name: override(unstruct_hook=_lazy_hook(c, hint))
            for name, hint in _exact_fields(cls).items()
        }
        # cattrs types **overrides as its keyword flags; they are AttributeOverrides here.
        make: Any = make_dict_unstructure_fn
        fn: Callable[[Any], Any] = make(
            cls, c, _cattrs_omit_if_default=c.omit_if_default, **overrides
        )
        return fn

    return factory


def _structure_timedelta(value: Any, _: Any) -> timedelta:
    if isinstance(value, list):
        return timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    return timedelta(seconds=value)


def make_converter() -> JsonConverter:
    """The cattrs converter wfe uses for everything it stores.

    Typed fields go by their annotations (``list[Decimal]`` is a JSON array of strings).
    Fields that say nothing of their items' types (``Any``, ``object``, bare ``dict``,
    ``list``, ``tuple``, ``set``, ``frozenset``, and those with ``Any`` or ``object`` items)
    tag what JSON cannot hold, as :func:`to_json_value` does, so they come back exactly too.
    """
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
    # cattrs picks a hook once per type and caches it: these predicates cost nothing per call.
    c.register_unstructure_hook_factory(_is_untyped_form, _unstructure_untyped)
    c.register_structure_hook_factory(lambda t: _untyped_container(t) is not None, _structure_untyped)
    c.register_unstructure_hook_factory(_has_exact_fields, _unstructure_exact_fields(c))
    c.register_structure_hook_func(_is_loose_union, lambda v, _: from_json_value(v))
    c.register_unstructure_hook_func(lambda t: t in _ANY, _encode_root)
    c.register_structure_hook_func(lambda t: t in _ANY, lambda v, _: from_json_value(v))
    return c


_converter = make_converter()


def dump_host(record: HostRecord) -> str:
    """A host's heartbeat record as a JSON string (what a heartbeat store keeps)."""
    return _dumps(_converter.unstructure(record))


def load_host(text: str | bytes) -> HostRecord:
    """The heartbeat record :func:`dump_host` made.

    Raises:
        SerializationError: the text is not such a record.
    """
    try:
        return _converter.structure(json.loads(text), HostRecord)
    except (ValueError, TypeError, KeyError, cattrs.BaseValidationError) as exc:
        raise SerializationError(f"a stored host heartbeat cannot be read: {exc}") from exc


def _is_untyped(data_type: Any) -> bool:
    return data_type in (None, Any, dict, object) or getattr(data_type, "__origin__", None) is dict


def encode_data(data: Any, data_type: Any = None) -> str:
    """Workflow data as a JSON string.

    Raises:
        SerializationError: the data holds something that cannot be stored (a value of an
            unknown type, a reference cycle, more than :data:`MAX_DEPTH` levels, an integer
            too long to read back); the message gives its path, why, and what to do.
    """
    try:
        if data is None:
            return "null"
        if _is_untyped(data_type) or not (attrs.has(type(data)) or dataclasses.is_dataclass(data)):
            return _dumps(_encode(data, 0))
        plain = _converter.unstructure(data, data_type or type(data))
        if sys.getrecursionlimit() > _USUAL_RECURSION_LIMIT and _deeper_than(plain, _TYPED_LEVELS):
            # Typed data is bounded by the recursion error its encoding meets; this process
            # raised the limit (mypy's API does), so the bound is checked as it would be met.
            raise RecursionError("nested too deep")
        return _dumps(plain)
    except _REFUSALS as exc:
        _raise(exc, "the workflow data", [("data", data)])


#: Python's own recursion limit: typed data deeper than encoding can go under it is refused
#: (see :func:`encode_data`), whatever limit this process set (mypy's API sets 16,384).
_USUAL_RECURSION_LIMIT = 1000
#: Levels of plain JSON (dicts and lists) that typed data may reach before that refusal.
_TYPED_LEVELS = 4 * MAX_DEPTH


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether the dicts and lists of ``value`` nest more than ``limit`` deep (no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def decode_data(text: str | None, data_type: Any = None) -> Any:
    """Rebuild workflow data from :func:`encode_data`'s JSON, as ``data_type`` when given."""
    if text is None:
        return None
    try:
        raw = json.loads(text)
        if raw is None:
            return None
        if sys.getrecursionlimit() > _USUAL_RECURSION_LIMIT and _deeper_than(raw, _TYPED_LEVELS):
            raise RecursionError("nested too deep")  # what a process with the usual limit meets
        if _is_untyped(data_type) or (isinstance(raw, dict) and _TAG in raw):
            return from_json_value(raw)
        return _converter.structure(raw, data_type)
    except RecursionError:
        raise SerializationError(
            f"cannot rebuild workflow data as {getattr(data_type, '__qualname__', data_type)}: "
            "it is nested deeper than Python's recursion limit lets it be read back here"
        ) from None
    except Exception as exc:  # cattrs raises several unrelated types
        why = (
            "; ".join(cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError) else str(exc)
        )
        raise SerializationError(
            f"cannot rebuild workflow data as {getattr(data_type, '__qualname__', data_type)}: {why}"
        ) from exc


def pointer_to_dict(pointer: ExecutionPointer) -> dict[str, Any]:
    """One execution pointer as a fresh JSON-compatible dict (shares nothing with it).

    Written by hand rather than by cattrs because it runs for every pointer of every pass:
    fields at their default are left out, which halves the stored size too.
    """
    p = pointer
    try:
        out: dict[str, Any] = {"id": p.id, "step_id": p.step_id}
        if not p.active:
            out["active"] = False
        if p.status is not PointerStatus.PENDING:
            out["status"] = p.status._value_  # not .value: a property, 10x slower
        if p.sleep_until is not None:
            out["sleep_until"] = p.sleep_until.isoformat()
        if p.persistence_data is not None:
            out["persistence_data"] = _encode_root(p.persistence_data)
        if p.start_time is not None:
            out["start_time"] = start = p.start_time.isoformat()
            if p.end_time is p.start_time:  # one pass started and ended it: written once
                out["end_time"] = start
            elif p.end_time is not None:
                out["end_time"] = p.end_time.isoformat()
        elif p.end_time is not None:
            out["end_time"] = p.end_time.isoformat()
        if p.event_name is not None:
            out["event_name"] = p.event_name
        if p.event_key is not None:
            out["event_key"] = p.event_key
        if p.event_published:
            out["event_published"] = True
        if p.event_data is not None:
            out["event_data"] = _encode_root(p.event_data)
        if p.step_name is not None:
            out["step_name"] = p.step_name
        if p.retry_count:
            out["retry_count"] = p.retry_count
        if p.children:
            out["children"] = list(p.children)
        if p.context_item is not None:
            out["context_item"] = _encode_root(p.context_item)
        if p.predecessor_id is not None:
            out["predecessor_id"] = p.predecessor_id
        if p.outcome is not None:
            out["outcome"] = _encode_root(p.outcome)
        if p.scope:
            out["scope"] = list(p.scope)
        if p.extension_attributes:
            out["extension_attributes"] = _encode_root(p.extension_attributes)
        return out
    except _REFUSALS as exc:
        _refuse_pointer(exc, p)


def _refuse_pointer(exc: BaseException, p: ExecutionPointer) -> NoReturn:
    _raise(exc, f"the data of step {p.step_name or p.step_id!r} (pointer {p.id})", [
        ("persistence_data", p.persistence_data),
        ("event_data", p.event_data),
        ("context_item", p.context_item),
        ("outcome", p.outcome),
        ("extension_attributes", p.extension_attributes),
    ])


_POINTER_FIELDS = [f.name for f in attrs.fields(ExecutionPointer)]
_pointer_values = operator.attrgetter(*_POINTER_FIELDS)
_STATUS_AT = _POINTER_FIELDS.index("status")
_CHILDREN_AT = _POINTER_FIELDS.index("children")
_SCOPE_AT = _POINTER_FIELDS.index("scope")
_LISTS_AT = (_CHILDREN_AT, _SCOPE_AT)
_EXTENSIONS_AT = _POINTER_FIELDS.index("extension_attributes")
#: The fields holding values of the steps (any storable value), encoded as in the JSON form.
_STEP_VALUES = ("persistence_data", "event_data", "context_item", "outcome")
_step_values = operator.itemgetter(*(_POINTER_FIELDS.index(name) for name in _STEP_VALUES))
_NO_STEP_VALUES = (None,) * len(_STEP_VALUES)
_VALUES_AT = (*(_POINTER_FIELDS.index(name) for name in _STEP_VALUES), _EXTENSIONS_AT)


def pointer_copy(pointer: ExecutionPointer) -> tuple[Any, ...]:
    """One execution pointer as a tuple sharing nothing that can change with it, for a store
    in this process (``memory://``); :func:`pointer_from_copy` reverses it.

    The values of steps are encoded and refused as :func:`pointer_to_dict` encodes and
    refuses them, so memory:// stores what the other stores store; the rest is kept as it is
    (times need no text here). Once the collector has looked at it, it tracks the tuple no
    more: it holds only strings, numbers and times, unless a step left a value in it.
    """
    values = list(_pointer_values(pointer))
    values[_STATUS_AT] = values[_STATUS_AT]._value_
    values[_CHILDREN_AT] = tuple(values[_CHILDREN_AT])
    values[_SCOPE_AT] = tuple(values[_SCOPE_AT])
    try:
        if _step_values(values) != _NO_STEP_VALUES:  # most pointers hold none
            for at in _VALUES_AT:
                value = values[at]
                if value is not None:
                    values[at] = _encode(value, 0)
        elif values[_EXTENSIONS_AT]:
            values[_EXTENSIONS_AT] = _encode(values[_EXTENSIONS_AT], 0)
        if not values[_EXTENSIONS_AT]:  # as pointer_to_dict leaves it out
            values[_EXTENSIONS_AT] = None
    except _REFUSALS as exc:
        _refuse_pointer(exc, pointer)
    return tuple(values)


def pointer_from_copy(values: tuple[Any, ...]) -> ExecutionPointer:
    """A fresh pointer from :func:`pointer_copy`'s tuple."""
    fields = list(values)
    fields[_STATUS_AT] = _POINTER_STATUS[fields[_STATUS_AT]]
    for at in _LISTS_AT:
        fields[at] = list(fields[at])
    for at in _VALUES_AT:
        if fields[at] is not None:
            fields[at] = from_json_value(fields[at])
    if fields[_EXTENSIONS_AT] is None:
        fields[_EXTENSIONS_AT] = {}
    return ExecutionPointer(*fields)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


#: A stored status's member, by value: ``PointerStatus(value)`` goes through Python code.
_POINTER_STATUS = {status.value: status for status in PointerStatus}


def pointer_from_dict(raw: dict[str, Any]) -> ExecutionPointer:
    """Reverse :func:`pointer_to_dict` (also reads pointers stored with every field)."""
    get = raw.get
    status = get("status", "pending")
    return ExecutionPointer(
        id=raw["id"],
        step_id=get("step_id", 0),
        active=get("active", True),
        status=_POINTER_STATUS.get(status) or PointerStatus(status),  # unknown: ValueError
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
    """Rebuild an execution pointer from :func:`dump_pointer`'s JSON.

    Raises:
        SerializationError: the text is not a stored pointer.
    """
    try:
        return pointer_from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise SerializationError(f"cannot read a stored execution pointer: {exc!r}") from exc


def dump_value(value: Any) -> str:
    """Any storable value as a JSON string (event data, subscription data).

    Raises:
        SerializationError: the value (or something in it) cannot be stored; the message
            gives its path, why, and what to do.
    """
    try:
        return _dumps(_encode(value, 0))
    except _REFUSALS as exc:
        _raise(exc, "the data", [("data", value)])


def load_value(text: str | None) -> Any:
    """Reverse :func:`dump_value`.

    Raises:
        SerializationError: the text is not a stored value.
    """
    if text is None:
        return None
    try:
        return from_json_value(json.loads(text))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise SerializationError(f"cannot read a stored value: {exc!r}") from exc
