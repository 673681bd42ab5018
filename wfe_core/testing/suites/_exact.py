"""``assert_exact``: equal, and of the same type all the way down."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import attrs


def _field_names(value: Any) -> list[str]:
    if attrs.has(type(value)):
        return [a.name for a in attrs.fields(type(value))]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [f.name for f in dataclasses.fields(value)]
    return []


def assert_exact(back: Any, value: Any, where: str = "data") -> None:
    """Equal, and of the same type all the way down: ``1 == True == Decimal(1)``, and a list
    of strings can equal nothing it replaced, but the types tell."""
    assert type(back) is type(value), where
    assert back == value, where
    if isinstance(value, Decimal):
        assert str(back) == str(value), where
    if isinstance(value, dict):
        for key, item in value.items():
            assert_exact(back[key], item, f"{where}[{key!r}]")
    if isinstance(value, (list, tuple)):
        for i, (b, v) in enumerate(zip(back, value, strict=True)):
            assert_exact(b, v, f"{where}[{i}]")
    for name in _field_names(value):
        assert_exact(getattr(back, name), getattr(value, name), f"{where}.{name}")
