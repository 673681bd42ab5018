"""The converter in ``wfe_core.serialization``: exact JSON round trips, never pickle."""

from __future__ import annotations

import dataclasses
import enum
import json
import socket
import sys
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest

from wfe.errors import SerializationError
from wfe_core import ExecutionPointer, PointerStatus
from wfe_core.serialization import (
    MAX_DEPTH,
    decode_data,
    dump_pointer,
    dump_value,
    encode_data,
    load_pointer,
    load_value,
    make_converter,
    pointer_copy,
    pointer_from_copy,
    pointer_from_dict,
    pointer_to_dict,
)
from wfe_core.testing.suites._exact import assert_exact

EXACT = Decimal("1.235465673450897890")
_DIGITS = sys.int_info.default_max_str_digits
IST = timezone(timedelta(hours=5, minutes=30))


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 3


class Flavour(str, enum.Enum):
    SWEET = "sweet"


@attrs.define
class Topping:
    name: str
    price: Decimal
    extra: bool = False


@attrs.define
class AttrsOrder:
    order_id: uuid.UUID
    placed: datetime
    due: date
    bake_for: timedelta
    color: Color
    size: Size
    toppings: list[Topping]
    by_name: dict[str, Topping]
    prices: dict[str, Decimal]
    pair: tuple[int, str]
    labels: set[str]
    frozen: frozenset[int]
    note: str | None = None
    total: Decimal = Decimal(0)
    anything: Any = None


@dataclasses.dataclass
class Line:
    sku: str
    qty: int
    price: Decimal


@dataclasses.dataclass
class DataclassOrder:
    order_id: uuid.UUID
    placed: datetime
    due: date
    bake_for: timedelta
    color: Color
    lines: list[Line]
    by_sku: dict[str, Line]
    pair: tuple[int, ...]
    labels: set[str]
    note: str | None = None
    anything: Any = None
    flavour: Flavour = Flavour.SWEET


def _attrs_order() -> AttrsOrder:
    return AttrsOrder(
        order_id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        placed=datetime(2024, 2, 29, 23, 59, 58, 999999, tzinfo=IST),
        due=date(2024, 3, 1),
        bake_for=timedelta(minutes=12, seconds=30, microseconds=5),
        color=Color.GREEN,
        size=Size.LARGE,
        toppings=[Topping("basil 🌿", EXACT), Topping("ñduja", Decimal("-0.00"), extra=True)],
        by_name={"basil": Topping("basil", Decimal("1E+3"))},
        prices={"a": EXACT, "b": Decimal("0.1")},
        pair=(7, "seven"),
        labels={"hot", "veggie"},
        frozen=frozenset({1, 2, 3}),
        note=None,
        total=EXACT,
        anything={"nested": [1, {"deep": (Decimal("2.5"), None)}], 3: "int key"},
    )


def _dataclass_order() -> DataclassOrder:
    return DataclassOrder(
        order_id=uuid.uuid4(),
        placed=datetime(2030, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        due=date(1999, 12, 31),
        bake_for=timedelta(days=2, hours=3),
        color=Color.RED,
        lines=[Line("pizza-🍕", 2, EXACT), Line("cola", 1, Decimal("2.50"))],
        by_sku={"cola": Line("cola", 1, Decimal("2.50"))},
        pair=(1, 2, 3),
        labels=set(),
        note='straße — 東京 — \u0000 — "quoted" \\ back',
        anything=[Topping("x", Decimal(1)), {"when": datetime(2020, 5, 5, tzinfo=UTC)}],
    )


def _dict_data() -> dict[str, Any]:
    return {
        "decimal": EXACT,
        "when": datetime(2024, 6, 1, 12, 0, tzinfo=IST),
        "day": date(2024, 6, 1),
        "span": timedelta(days=-1, microseconds=3),
        "id": uuid.UUID(int=42),
        "color": Color.RED,
        "size": Size.SMALL,
        "flavour": Flavour.SWEET,
        "none": None,
        "bool": True,
        "int": 10**30,
        "float": 0.1,
        "tuple": (1, (2, "x"), ()),
        "set": {1, 2, 3},
        "list": [1, [2, [3, [4]]], {"k": "v"}],
        "emoji": "🍕🔥 naïve café",
        "nested_attrs": Topping("olives", Decimal("0.75")),
        "nested_dataclass": Line("a", 1, EXACT),
        "int_keys": {1: "one", 2: "two"},
        "tuple_keys": {(1, 2): "pair"},
        "tagged_lookalike": {"$wfe": "decimal", "v": "1"},
        "empty": {},
    }


# -- workflow data ----------------------------------------------------------------------------


def _roundtrip(data: Any, data_type: Any) -> Any:
    text = encode_data(data, data_type)
    assert isinstance(text, str)
    json.loads(text)  # it is real JSON
    return decode_data(text, data_type)


def test_attrs_data_round_trips_equal() -> None:
    order = _attrs_order()
    back = _roundtrip(order, AttrsOrder)
    assert back == order
    assert type(back) is AttrsOrder
    assert type(back.toppings[0]) is Topping
    assert back.total == EXACT and str(back.total) == str(EXACT)
    assert back.placed.utcoffset() == timedelta(hours=5, minutes=30)
    assert type(back.frozen) is frozenset
    assert back.anything[3] == "int key"


def test_dataclass_data_round_trips_equal() -> None:
    order = _dataclass_order()
    back = _roundtrip(order, DataclassOrder)
    assert back == order
    assert type(back) is DataclassOrder
    assert isinstance(back.lines[0], Line)
    assert type(back.anything[0]) is Topping
    assert back.flavour is Flavour.SWEET


def test_dict_data_round_trips_equal() -> None:
    data = _dict_data()
    back = _roundtrip(data, dict)
    assert back == data
    for key, value in data.items():
        assert type(back[key]) is type(value), key
    assert str(back["decimal"]) == "1.235465673450897890"
    assert back["when"].tzinfo is not None
    assert back["color"] is Color.RED
    assert back["size"] is Size.SMALL
    assert back["tuple"] == (1, (2, "x"), ())
    assert isinstance(back["tuple"][1], tuple)


def test_dict_data_with_generic_alias_type_round_trips() -> None:
    data = _dict_data()
    assert _roundtrip(data, dict[str, Any]) == data


def test_untyped_data_round_trips_objects_in_a_dict() -> None:
    data = {"order": _attrs_order(), "dc": _dataclass_order()}
    assert _roundtrip(data, None) == data


def test_a_dataclass_stored_as_untyped_data_comes_back_as_itself() -> None:
    order = _dataclass_order()
    assert _roundtrip(order, dict) == order


def test_decimal_is_exact_and_keeps_its_exponent() -> None:
    for value in (
        EXACT,
        Decimal("0.10"),
        Decimal("1E+30"),
        Decimal("-0"),
        Decimal("123456789012345678901234567890.123456789"),
    ):
        assert str(_roundtrip({"v": value}, dict)["v"]) == str(value)
        assert str(_roundtrip(Topping("x", value), Topping).price) == str(value)


def test_none_data_round_trips() -> None:
    assert encode_data(None, dict) == "null"
    assert decode_data("null", AttrsOrder) is None
    assert decode_data(None, dict) is None


@pytest.mark.parametrize(
    "value",
    [
        timedelta(0),
        timedelta(microseconds=1),
        timedelta(days=-3, seconds=5, microseconds=7),
        timedelta(days=10_000, microseconds=999_999),
    ],
)
def test_typed_timedelta_round_trips_exactly(value: timedelta) -> None:
    @attrs.define
    class Holder:
        span: timedelta

    assert _roundtrip(Holder(value), Holder).span == value


def test_typed_timedelta_round_trips_exactly_when_large() -> None:
    @attrs.define
    class Holder:
        span: timedelta

    value = timedelta(days=365 * 300, microseconds=1)
    assert _roundtrip(Holder(value), Holder).span == value


def test_untyped_frozenset_comes_back_as_a_frozenset() -> None:
    back = _roundtrip({"f": frozenset({1, 2})}, dict)
    assert type(back["f"]) is frozenset


@dataclasses.dataclass
class _Wrapper:
    value: Any


def _local_dataclass_instance() -> Any:
    @dataclasses.dataclass
    class Local:
        a: int

    return Local(1)


def test_an_untyped_object_of_an_unimportable_class_is_rejected_or_rebuilt() -> None:
    value = _local_dataclass_instance()
    try:
        back = _roundtrip({"x": value}, dict)
    except SerializationError:
        return
    assert back == {"x": value}


# -- what cannot be stored --------------------------------------------------------------------


class PlainClass:
    def __init__(self) -> None:
        self.x = 1


@pytest.fixture
def a_socket() -> Iterator[socket.socket]:
    sock = socket.socket()
    yield sock
    sock.close()


def _unserializables(sock: socket.socket) -> list[Any]:
    return [PlainClass(), lambda: 1, sock, object(), print, iter([1])]


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("data_type", [dict, None])
def test_unserializable_values_in_dict_data_raise_serialization_error(
    index: int, data_type: Any, a_socket: socket.socket
) -> None:
    bad = _unserializables(a_socket)[index]
    with pytest.raises(SerializationError) as info:
        encode_data({"ok": 1, "nested": [{"bad": bad}]}, data_type)
    message = str(info.value)
    assert type(bad).__qualname__ in message
    assert "attrs class" in message and "dataclass" in message


@pytest.mark.parametrize("index", range(6))
def test_unserializable_values_in_typed_data_raise_serialization_error(
    index: int, a_socket: socket.socket
) -> None:
    bad = _unserializables(a_socket)[index]
    with pytest.raises(SerializationError) as info:
        encode_data(_Wrapper(bad), _Wrapper)
    assert type(bad).__qualname__ in str(info.value)


@dataclasses.dataclass
class _ObjectField:
    value: object


def test_an_unserializable_value_in_an_object_field_raises_serialization_error() -> None:
    with pytest.raises(SerializationError, match="PlainClass"):
        encode_data(_ObjectField(PlainClass()), _ObjectField)


def test_a_plain_class_as_the_data_itself_is_rejected() -> None:
    with pytest.raises(SerializationError, match="PlainClass"):
        encode_data(PlainClass(), dict)


def test_unserializable_event_values_raise_serialization_error(a_socket: socket.socket) -> None:
    for bad in _unserializables(a_socket):
        with pytest.raises(SerializationError):
            dump_value({"k": [bad]})


def test_data_that_does_not_fit_the_type_raises_serialization_error() -> None:
    with pytest.raises(SerializationError, match="DataclassOrder"):
        decode_data('{"order_id": "not-a-uuid"}', DataclassOrder)


def test_text_that_is_not_json_raises_serialization_error() -> None:
    with pytest.raises(SerializationError):
        decode_data("{not json", dict)


# -- pointers and values ----------------------------------------------------------------------


AWKWARD_VALUES: list[Any] = [
    None,
    0,
    "",
    "🍕",
    [],
    {},
    EXACT,
    (1, "two", None),
    {"$wfe": "tuple", "v": [1]},
    {1: "int key", (2, 3): {"set": {4, 5}}},
    {"index": 3, "children_active": True},
    Topping("cheese", EXACT),
    Line("x", 2, Decimal("3.5")),
    [_attrs_order(), _dataclass_order()],
    datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC),
    date(2000, 1, 1),
    timedelta(days=365 * 300, microseconds=1),
    uuid.UUID(int=1),
    Color.GREEN,
    Size.LARGE,
    b"\x00\xffbytes",
]


@pytest.mark.parametrize("value", AWKWARD_VALUES, ids=[repr(v)[:40] for v in AWKWARD_VALUES])
def test_values_round_trip_equal_with_their_types(value: Any) -> None:
    text = dump_value(value)
    json.loads(text)
    back = load_value(text)
    assert back == value
    assert type(back) is type(value)


def test_load_value_of_none_is_none() -> None:
    assert load_value(None) is None


@pytest.mark.parametrize("value", AWKWARD_VALUES, ids=[repr(v)[:40] for v in AWKWARD_VALUES])
def test_pointers_round_trip_with_awkward_persistence_data_and_items(value: Any) -> None:
    pointer = ExecutionPointer(
        step_id=12,
        active=False,
        status=PointerStatus.WAITING_FOR_EVENT,
        sleep_until=datetime(2024, 1, 1, 8, tzinfo=IST),
        persistence_data=value,
        start_time=datetime(2024, 1, 1, tzinfo=UTC),
        end_time=None,
        event_name="oven.timer",
        event_key="order-🍕",
        event_published=True,
        event_data={"temperature": Decimal("451.0"), "items": [value]},
        step_name="Bake",
        retry_count=3,
        children=["a", "b"],
        context_item=value,
        predecessor_id="pred",
        outcome=value,
        scope=["inner", "outer"],
        extension_attributes={"event_id": "e1", "when": date(2024, 1, 1), "v": value},
    )
    text = dump_pointer(pointer)
    json.loads(text)
    back = load_pointer(text)
    assert back == pointer
    assert type(back.persistence_data) is type(value)
    assert type(back.context_item) is type(value)
    assert back.status is PointerStatus.WAITING_FOR_EVENT


def test_a_fresh_pointer_round_trips() -> None:
    pointer = ExecutionPointer()
    assert load_pointer(dump_pointer(pointer)) == pointer


def test_a_pointer_with_unserializable_persistence_data_raises_serialization_error() -> None:
    with pytest.raises(SerializationError):
        dump_pointer(ExecutionPointer(persistence_data={"f": lambda: 1}))


def test_make_converter_returns_independent_converters() -> None:
    one, two = make_converter(), make_converter()
    assert one is not two
    assert one.structure(one.unstructure(EXACT), Decimal) == EXACT


# -- untyped fields come back exactly ---------------------------------------------------------


@attrs.define
class Untyped:
    """One field of each kind that says nothing of its items' types."""

    bare_dict: dict  # type: ignore[type-arg]
    bare_list: list  # type: ignore[type-arg]
    bare_tuple: tuple  # type: ignore[type-arg]
    bare_set: set  # type: ignore[type-arg]
    bare_frozenset: frozenset  # type: ignore[type-arg]
    str_any: dict[str, Any]
    any_any: dict[Any, Any]
    str_object: dict[str, object]
    list_any: list[Any]
    list_object: list[object]
    tuple_any: tuple[Any, ...]
    set_any: set[Any]
    typing_dict: typing.Dict  # type: ignore[type-arg]  # noqa: UP006
    typing_list: typing.List  # type: ignore[type-arg]  # noqa: UP006
    obj: object
    any: Any
    maybe_dict: dict | None = None  # type: ignore[type-arg]


def _exotic() -> list[Any]:
    return [
        EXACT,
        Color.GREEN,
        Size.LARGE,
        timedelta(days=-1, microseconds=3),
        datetime(2024, 6, 1, 12, 0, tzinfo=IST),
        date(2024, 6, 1),
        uuid.UUID(int=42),
        (1, (2, "x")),
        frozenset({1}),
        {1: "int key"},
        Topping("olives", Decimal("0.75")),
        b"\x00\xff",
    ]


def _untyped() -> Untyped:
    items = _exotic()
    return Untyped(
        bare_dict={"items": items, "price": EXACT},
        bare_list=list(items),
        bare_tuple=tuple(items),
        bare_set={EXACT, Color.RED, (1, 2), uuid.UUID(int=1)},
        bare_frozenset=frozenset({date(2024, 1, 1), Decimal("0.10")}),
        str_any={"span": timedelta(hours=1), "items": items},
        any_any={1: EXACT, (2, 3): Color.RED},
        str_object={"when": datetime(2030, 1, 1, tzinfo=UTC)},
        list_any=list(items),
        list_object=[Decimal("1.0"), Size.SMALL],
        tuple_any=tuple(items),
        set_any={Decimal("2.50"), Flavour.SWEET},
        typing_dict={"id": uuid.UUID(int=3)},
        typing_list=[timedelta(seconds=1)],
        obj=Decimal("-0.00"),
        any={"deep": [EXACT]},
        maybe_dict={"price": Decimal("3.30")},
    )


def test_untyped_fields_of_attrs_data_come_back_exactly() -> None:
    data = _untyped()
    assert_exact(_roundtrip(data, Untyped), data)


@dataclasses.dataclass
class UntypedDataclass:
    bare_dict: dict  # type: ignore[type-arg]
    bare_list: list  # type: ignore[type-arg]
    obj: object = None


def test_untyped_fields_of_dataclass_data_come_back_exactly() -> None:
    data = UntypedDataclass({"price": EXACT, 1: Color.RED}, [timedelta(1), uuid.UUID(int=5)], EXACT)
    assert_exact(_roundtrip(data, UntypedDataclass), data)


def test_an_object_field_is_treated_like_any() -> None:
    for value in [None, 1, "x", EXACT, Color.RED, [date(2020, 1, 1)], {"a": (1, 2)}, Topping("x", EXACT)]:
        assert_exact(_roundtrip(_ObjectField(value), _ObjectField), _ObjectField(value))


def test_a_bare_list_field_holding_a_tuple_or_none_comes_back_as_it_was() -> None:
    @attrs.define
    class Holder:
        items: list  # type: ignore[type-arg]

    for value in [(1, EXACT), None, {"a": 1}]:
        assert _roundtrip(Holder(value), Holder).items == value
        assert type(_roundtrip(Holder(value), Holder).items) is type(value)


def test_a_bare_list_as_the_data_type_comes_back_exactly() -> None:
    data = [EXACT, Color.RED, (1, 2)]
    assert_exact(_roundtrip(data, list), data)


# JSON texts as the previous version stored them: they must load, and typed data is still
# stored the same way. (That version read the list[Any] field below back as tagged dicts.)

STORED_TYPED = (
    '{"order_id":"00000000-0000-0000-0000-000000000007","placed":"2024-05-01T12:30:00+00:00",'
    '"bake_for":[0,720,5],"color":"red","prices":["1.10","2"],"counts":{"a":1},'
    '"toppings":[{"name":"basil","price":"0.50","extra":false}],"pair":[1,"x"],"labels":["hot"],'
    '"maybe_toppings":[{"name":"ham","price":"2","extra":true}],'
    '"tree":{"name":"root","children":[{"name":"leaf","children":[],"extra":null}],"extra":null},'
    '"notes":{"k":[1,"two",null,true,1.5,{"n":{}}]},"items":[1,"a",[2]],'
    '"anything":{"price":{"$wfe":"decimal","v":"9.99"},"when":{"$wfe":"date","v":"2024-01-02"}},'
    '"list_any":[{"$wfe":"decimal","v":"1.10"},{"$wfe":"uuid","v":"00000000-0000-0000-0000-000000000001"}],'
    '"maybe":null}'
)


class Shade(enum.Enum):
    RED = "red"


@attrs.define(eq=False)
class Node:
    name: str
    children: list[Node] = attrs.Factory(list)
    extra: Any = None

    def __eq__(self, other: object) -> bool:  # not attrs' own: that recurses on a cycle
        return isinstance(other, Node) and (self.name, self.children, self.extra) == (
            other.name,
            other.children,
            other.extra,
        )


@dataclasses.dataclass
class Stored:
    order_id: uuid.UUID
    placed: datetime
    bake_for: timedelta
    color: Shade
    prices: list[Decimal]
    counts: dict[str, int]
    toppings: list[Topping]
    pair: tuple[int, str]
    labels: set[str]
    maybe_toppings: list[Topping] | None
    tree: Node
    notes: dict  # type: ignore[type-arg]
    items: list  # type: ignore[type-arg]
    anything: Any
    list_any: list[Any]
    maybe: str | None = None


def _stored() -> Stored:
    return Stored(
        order_id=uuid.UUID(int=7),
        placed=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        bake_for=timedelta(minutes=12, microseconds=5),
        color=Shade.RED,
        prices=[Decimal("1.10"), Decimal("2")],
        counts={"a": 1},
        toppings=[Topping("basil", Decimal("0.50"))],
        pair=(1, "x"),
        labels={"hot"},
        maybe_toppings=[Topping("ham", Decimal(2), extra=True)],
        tree=Node("root", [Node("leaf")]),
        notes={"k": [1, "two", None, True, 1.5, {"n": {}}]},
        items=[1, "a", [2]],
        anything={"price": Decimal("9.99"), "when": date(2024, 1, 2)},
        list_any=[Decimal("1.10"), uuid.UUID(int=1)],
    )


def test_data_stored_by_the_previous_version_loads_and_typed_data_is_stored_the_same() -> None:
    assert_exact(decode_data(STORED_TYPED, Stored), _stored())
    assert encode_data(_stored(), Stored) == STORED_TYPED


@dataclasses.dataclass
class Loose:
    notes: dict  # type: ignore[type-arg]
    items: list  # type: ignore[type-arg]
    pair: tuple  # type: ignore[type-arg]
    tags: set  # type: ignore[type-arg]


def test_bare_fields_load_as_they_did_and_now_keep_their_values() -> None:
    # What the previous version wrote for Loose({"price": Decimal("1.10"), 1: "one", "span":
    # timedelta(1)}, [Shade.RED, UUID(int=1), (1, 2)], (Decimal(1), 2), {"a"}): it loads as it
    # did then, and the same values stored now come back as they were.
    text = (
        '{"notes":{"price":"1.10","1":"one","span":[1,0,0]},'
        '"items":["red","00000000-0000-0000-0000-000000000001",[1,2]],"pair":["1",2],"tags":["a"]}'
    )
    assert_exact(
        decode_data(text, Loose),
        Loose(
            notes={"price": "1.10", "1": "one", "span": [1, 0, 0]},
            items=["red", "00000000-0000-0000-0000-000000000001", [1, 2]],
            pair=("1", 2),
            tags={"a"},
        ),
    )
    data = Loose(
        {"price": Decimal("1.10"), 1: "one", "span": timedelta(1)},
        [Shade.RED, uuid.UUID(int=1), (1, 2)],
        (Decimal(1), 2),
        {"a"},
    )
    assert_exact(_roundtrip(data, Loose), data)


@attrs.define
class Nested:
    """Bare containers inside typed ones, in unions, and in a class that refers to itself."""

    lines: list[dict]  # type: ignore[type-arg]
    by_name: dict[str, list]  # type: ignore[type-arg]
    maybe: dict | None  # type: ignore[type-arg]
    either: int | dict  # type: ignore[type-arg]
    loose: dict | list = attrs.Factory(list)  # type: ignore[type-arg]
    mixed: list[int | dict] = attrs.Factory(list)  # type: ignore[type-arg]
    kids: list[Nested] = attrs.Factory(list)
    meta: dict = attrs.Factory(dict)  # type: ignore[type-arg]


def test_bare_containers_nested_in_typed_fields_come_back_exactly() -> None:
    inner = Nested([{"p": EXACT}], {"a": [Shade.RED]}, {"d": date(2024, 1, 1)}, 3, meta={1: EXACT})
    data = Nested(
        lines=[{"price": EXACT, "id": uuid.UUID(int=9)}, {}],
        by_name={"x": [timedelta(1), (1, 2)]},
        maybe={"when": datetime(2024, 1, 1, tzinfo=UTC)},
        either={"price": EXACT},
        loose={"id": uuid.UUID(int=2)},
        mixed=[1, {"p": Decimal("0.10")}],
        kids=[inner],
        meta={"span": timedelta(seconds=5)},
    )
    assert_exact(_roundtrip(data, Nested), data)
    data.maybe = None
    assert_exact(_roundtrip(data, Nested), data)


@attrs.define
class Tree:
    name: str
    named: dict[str, tuple[Tree, dict]] = attrs.Factory(dict)  # type: ignore[type-arg]


def test_a_bare_container_next_to_its_own_class_comes_back_exactly() -> None:
    data = Tree("root", {"kid": (Tree("kid"), {"at": date(2024, 2, 2), "n": EXACT})})
    assert_exact(_roundtrip(data, Tree), data)


# -- cycles, depth and long integers --------------------------------------------------------------


def _nested(kind: str, levels: int, leaf: Any = EXACT) -> Any:
    """``levels`` containers of ``kind`` inside one another, ``leaf`` in the innermost."""
    value = leaf
    for _ in range(levels):
        match kind:
            case "list":
                value = [value]
            case "dict":
                value = {"k": value}
            case "tuple":
                value = (value,)
            case "int-keys":
                value = {1: value}
            case "object":
                value = Topping("t", Decimal(0)) if value is leaf else _Wrapper(value)
    return value


KINDS = ["list", "dict", "tuple", "int-keys"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("data_type", [dict, None, Any])
def test_data_nested_max_depth_levels_round_trips_and_one_more_is_refused(
    kind: str, data_type: Any
) -> None:
    data = {"tree": _nested(kind, MAX_DEPTH - 1)}  # the outer dict is one level
    assert_exact(_roundtrip(data, data_type), data)

    with pytest.raises(SerializationError) as info:
        encode_data({"tree": _nested(kind, MAX_DEPTH)}, data_type)
    message = str(info.value)
    assert message.startswith("cannot store the workflow data: data['tree']")
    assert f"nested more than {MAX_DEPTH} levels deep" in message
    assert "flatten it" in message


def test_values_nested_max_depth_levels_round_trip_and_one_more_is_refused() -> None:
    value = _nested("list", MAX_DEPTH)
    assert load_value(dump_value(value)) == value
    with pytest.raises(SerializationError, match=f"more than {MAX_DEPTH} levels"):
        dump_value([value])


def test_the_deepest_data_stored_loads_back_with_much_of_the_stack_in_use() -> None:
    # Stored in one process, read back in another whose stack may be deeper: there must be
    # room to spare below the recursion limit. One level more is not stored at all.
    data = {"tree": _nested("tuple", MAX_DEPTH - 1)}
    text = encode_data(data, dict)

    def at_depth(frames: int, fn: Any) -> Any:
        return fn() if frames == 0 else at_depth(frames - 1, fn)

    assert at_depth(400, lambda: decode_data(text, dict)) == data
    with pytest.raises(SerializationError, match="levels deep"):
        at_depth(400, lambda: encode_data({"tree": data}, dict))


def test_a_reference_cycle_in_dict_data_is_refused_with_its_path() -> None:
    inner: dict[str, Any] = {"name": "x"}
    inner["self"] = inner
    data = {"order": {"lines": [inner]}}
    with pytest.raises(SerializationError) as info:
        encode_data(data, dict)
    assert str(info.value) == (
        "cannot store the workflow data: data['order']['lines'][0]['self'] is "
        "data['order']['lines'][0] again, which holds it: a reference cycle, which JSON cannot "
        "hold; store a copy or an id that refers to it instead"
    )


def test_a_list_that_holds_itself_is_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(SerializationError, match=r"data\[1\] is data again"):
        encode_data(loop, None)


def test_a_reference_cycle_through_typed_fields_is_refused() -> None:
    root = Node("root", [Node("a")])
    root.children[0].children.append(root)
    with pytest.raises(SerializationError) as info:
        encode_data(root, Node)
    assert "data.children[0].children[0] is data again" in str(info.value)
    assert "reference cycle" in str(info.value)


def test_a_reference_cycle_through_an_any_field_is_refused() -> None:
    root = Node("root")
    root.extra = {"back": [root]}
    with pytest.raises(SerializationError, match=r"data\.extra\['back'\]\[0\] is data again"):
        encode_data(root, Node)


def test_a_reference_cycle_through_untyped_objects_is_refused() -> None:
    node = Node("n")
    node.extra = node
    with pytest.raises(SerializationError, match=r"data\['n'\]\.extra is data\['n'\] again"):
        encode_data({"n": node}, dict)


def test_typed_data_nested_too_deep_is_refused_and_what_is_stored_loads_back() -> None:
    shallow = Node("0")
    node = shallow
    for i in range(1, 60):
        node.children.append(Node(str(i), extra={"at": Decimal(i)}))
        node = node.children[0]
    assert_exact(_roundtrip(shallow, Node), shallow)

    root = Node("0")
    node = root
    for i in range(1, 1000):
        node.children.append(Node(str(i)))
        node = node.children[0]
    with pytest.raises(SerializationError) as info:
        encode_data(root, Node)
    message = str(info.value)
    assert message.startswith("cannot store the workflow data: data.children[0].children[0]")
    assert f"nested more than {MAX_DEPTH} levels deep" in message


LONGEST = 10**_DIGITS - 1


@pytest.mark.parametrize("data_type", [dict, _Wrapper])
def test_an_integer_too_long_to_read_back_is_refused_with_its_path(data_type: Any) -> None:
    data: Any = {"value": [1, 10**_DIGITS]}
    if data_type is _Wrapper:
        data = _Wrapper(data["value"])
    with pytest.raises(SerializationError) as info:
        encode_data(data, data_type)
    path = "data['value'][1]" if data_type is dict else "data.value[1]"
    assert str(info.value) == (
        f"cannot store the workflow data: {path} is an integer of more than {_DIGITS} digits, "
        "which Python cannot read back from JSON: store it as a Decimal (Decimal(n) is exact) "
        "or split it into smaller numbers"
    )


@dataclasses.dataclass
class IntField:
    n: int


def test_a_long_integer_in_a_typed_int_field_is_refused_with_its_path() -> None:
    with pytest.raises(SerializationError, match=r"data\.n is an integer of more than"):
        encode_data(IntField(-(10**_DIGITS)), IntField)


def test_the_longest_integer_python_reads_back_round_trips_and_one_digit_more_is_refused() -> None:
    for value in (LONGEST, -LONGEST):
        assert _roundtrip({"n": value}, dict) == {"n": value}
        assert _roundtrip(IntField(value), IntField) == IntField(value)
        assert load_value(dump_value(value)) == value
        with pytest.raises(SerializationError, match=f"more than {_DIGITS} digits"):
            dump_value(value * 10)


def test_a_long_integer_is_refused_and_stored_as_the_message_says_it_comes_back() -> None:
    with pytest.raises(SerializationError, match=r"store it as a Decimal \(Decimal\(n\) is exact\)"):
        encode_data({"n": 10**5000}, dict)
    assert _roundtrip({"n": Decimal(10**5000)}, dict)["n"] == 10**5000


def test_event_values_with_a_cycle_or_a_long_integer_are_refused() -> None:
    loop: dict[str, Any] = {}
    loop["again"] = loop
    with pytest.raises(SerializationError, match=r"cannot store the data: data\['again'\] is data"):
        dump_value(loop)
    with pytest.raises(SerializationError, match=r"cannot store the data: data\[\(1, 2\)\] is an"):
        dump_value({(1, 2): 10**5000})


@pytest.mark.parametrize("field", ["persistence_data", "context_item", "outcome", "event_data"])
def test_pointer_values_with_a_cycle_or_a_long_integer_are_refused(field: str) -> None:
    loop: list[Any] = []
    loop.append(loop)
    for bad, says in [(loop, f"{field}[0] is {field} again"), ({"n": 10**5000}, "more than")]:
        pointer = ExecutionPointer(step_name="Bake", **{field: bad})
        for dump in (dump_pointer, pointer_copy):  # the JSON form, and memory://'s copy
            with pytest.raises(SerializationError) as info:
                dump(pointer)
            assert str(info.value).startswith(
                f"cannot store the data of step 'Bake' (pointer {pointer.id}): "
            )
            assert says in str(info.value)


@pytest.mark.parametrize("pointer", [
    ExecutionPointer(step_id=3),
    ExecutionPointer(
        step_id=1, active=False, status=PointerStatus.COMPLETE, sleep_until=datetime(2026, 1, 2, tzinfo=UTC),
        persistence_data={"left": [1, Decimal("2.5")]}, start_time=datetime(2026, 1, 1, tzinfo=IST),
        end_time=datetime(2026, 1, 3), event_name="e", event_key="k", event_published=True,
        event_data=(1, "x"), step_name="S", retry_count=2, children=["c1", "c2"], context_item=Color.RED,
        predecessor_id="p", outcome=0, scope=["s2", "s1"], extension_attributes={"when": datetime(2026, 1, 4)},
    ),
])
def test_memorys_copy_of_a_pointer_gives_back_what_the_json_form_does(pointer: ExecutionPointer) -> None:
    """memory:// keeps ``pointer_copy``'s tuple: read back, it equals the pointer, as the JSON
    form read back does, and shares no list or value with it."""
    copy = pointer_from_copy(pointer_copy(pointer))
    assert_exact(copy, pointer)
    assert_exact(pointer_from_dict(pointer_to_dict(pointer)), copy)
    assert copy.scope is not pointer.scope and copy.children is not pointer.children
    if pointer.persistence_data is not None:
        assert copy.persistence_data is not pointer.persistence_data
        pointer.persistence_data["left"].append(3)
        assert copy.persistence_data == {"left": [1, Decimal("2.5")]}


def test_an_unknown_type_is_refused_with_its_path() -> None:
    with pytest.raises(SerializationError) as info:
        encode_data({"order": {"lines": [1, PlainClass()]}}, dict)
    assert str(info.value).startswith(
        "cannot store the workflow data: data['order']['lines'][1] is of type PlainClass, which wfe cannot store"
    )


def test_an_unimportable_class_is_refused_with_its_path() -> None:
    with pytest.raises(SerializationError) as info:
        dump_value({"x": [_local_dataclass_instance()]})
    assert "data['x'][0] is a _local_dataclass_instance.<locals>.Local, whose class" in str(info.value)
    assert "define it at module level" in str(info.value)


def test_a_class_as_a_value_is_refused() -> None:
    with pytest.raises(SerializationError, match=r"data\['cls'\] is the class Topping"):
        encode_data({"cls": Topping}, dict)


@pytest.mark.parametrize("text", ["{not json", '{"$wfe": "decimal"}', "[" * 2000 + "]" * 2000])
def test_stored_values_that_cannot_be_read_raise_serialization_error(text: str) -> None:
    with pytest.raises(SerializationError):
        load_value(text)


def test_a_stored_pointer_that_cannot_be_read_raises_serialization_error() -> None:
    with pytest.raises(SerializationError):
        load_pointer('{"no_id": 1}')


@pytest.mark.parametrize("value", [
    {"a": [1, -2.5, None, True, False], "é\u2028\"\n": {"x": []}},
    "text", 0, -1.5e300, None, [], {}, [[[{"deep": "er"}]]], float("nan"), float("inf"),
])
def test_the_compact_writer_writes_what_jsons_own_encoder_writes(value: Any) -> None:
    from wfe_core.serialization import _dumps

    assert _dumps(value) == json.JSONEncoder(separators=(",", ":")).encode(value)


def test_the_compact_writer_refuses_what_json_refuses() -> None:
    from wfe_core.serialization import _dumps

    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(TypeError, match="not JSON serializable"):
        _dumps({"x": PlainClass()})
    with pytest.raises((RecursionError, ValueError)):
        _dumps(cycle)
