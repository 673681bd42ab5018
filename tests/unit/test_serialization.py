"""The converter in ``wfe_core.serialization``: exact JSON round trips, never pickle."""

from __future__ import annotations

import dataclasses
import enum
import json
import socket
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
    decode_data,
    dump_pointer,
    dump_value,
    encode_data,
    load_pointer,
    load_value,
    make_converter,
)

EXACT = Decimal("1.235465673450897890")
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
