"""``when:`` conditions: parsed from YAML into a small tree, evaluated against workflow data.

A comparison names a ``field`` (a dotted path into the workflow data; ``outputs.`` and
``inputs.`` prefixes are allowed and mean the same data, since step outputs are merged into it)
and one operator; combinators ``all``, ``any``, ``none`` (lists) and ``not`` (one condition)
nest them. :mod:`wfe.yaml._spec` parses them (collecting problems), :mod:`wfe.yaml._build`
turns them into the builder's ``if_do`` conditions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["COMBINATORS", "OPERATORS", "Comparison", "Condition", "Group", "evaluate", "parse_condition", "value_at"]

#: Operators that take a value, and the two that take ``true``.
OPERATORS = ("equals", "not_equals", "gt", "gte", "lt", "lte", "contains", "is_null", "is_not_null")
COMBINATORS = ("all", "any", "none", "not")
_PREFIXES = ("inputs.", "outputs.", "data.")


@attrs.frozen
class Comparison:
    field: str
    operator: str
    value: Any = None


@attrs.frozen
class Group:
    kind: str  # all, any, none, not
    items: tuple[Condition, ...]


Condition = Comparison | Group
Report = Callable[[tuple[str | int, ...], str], None]


def field_path(field: str) -> list[str]:
    """The data path a ``field`` names: ``.outputs.version`` -> ``["version"]``."""
    text = field.lstrip(".")
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return [part for part in text.split(".") if part]


def parse_condition(raw: Any, path: tuple[str | int, ...], report: Report) -> Condition | None:
    """``raw`` as a condition, or None after reporting what is wrong with it."""
    if not isinstance(raw, Mapping):
        report(path, "a `when` condition is a mapping: {field: ..., equals: ...} or one of "
               "all/any/none (lists) or not (one condition)")
        return None
    combinators = [k for k in raw if k in COMBINATORS]
    if combinators:
        if len(raw) != 1:
            report(path, f"a combinator ({combinators[0]}) stands alone in its mapping; nest "
                   "the other keys as conditions inside it")
            return None
        kind = combinators[0]
        inner = raw[kind]
        if kind == "not":
            item = parse_condition(inner, (*path, kind), report)
            return None if item is None else Group(kind, (item,))
        if not isinstance(inner, list) or not inner:
            report((*path, kind), f"`{kind}` takes a non-empty list of conditions")
            return None
        items = [parse_condition(c, (*path, kind, i), report) for i, c in enumerate(inner)]
        if any(i is None for i in items):
            return None
        return Group(kind, tuple(i for i in items if i is not None))
    field = raw.get("field")
    if not isinstance(field, str) or not field_path(field):
        report(path, "a comparison needs `field`: the data path it looks at, e.g. outputs.version")
        return None
    operators = [k for k in raw if k in OPERATORS]
    unknown = [k for k in raw if k not in OPERATORS and k != "field"]
    if unknown:
        report((*path, unknown[0]), f"unknown key {unknown[0]!r} in a condition; use one of "
               + ", ".join(OPERATORS))
        return None
    if len(operators) != 1:
        report(path, "a comparison takes exactly one operator: " + ", ".join(OPERATORS))
        return None
    op = operators[0]
    value = raw[op]
    if op in ("is_null", "is_not_null") and value is not True:
        report((*path, op), f"`{op}` takes true")
        return None
    if op in ("gt", "gte", "lt", "lte") and (
        isinstance(value, bool) or not isinstance(value, (int, float, str))
    ):
        report((*path, op), f"`{op}` compares with a number or a string, not {value!r}")
        return None
    return Comparison(field, op, value)


def fields(condition: Condition) -> list[Comparison]:
    """Every comparison in ``condition``."""
    if isinstance(condition, Comparison):
        return [condition]
    return [c for item in condition.items for c in fields(item)]


def value_at(data: Any, field: str) -> Any:
    """The value at the dotted ``field`` path of ``data`` (mappings and list indexes); None if absent."""
    value = data
    for part in field_path(field):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    match op:
        case "equals":
            return bool(left == right)
        case "not_equals":
            return bool(left != right)
        case "is_null":
            return left is None
        case "is_not_null":
            return left is not None
        case "contains":
            if isinstance(left, str):
                return isinstance(right, str) and right in left
            if isinstance(left, (list, Mapping)):
                return right in left
            return False
    # Ordering: numbers with numbers, text with text; anything else is simply false.
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if not numbers and not (isinstance(left, str) and isinstance(right, str)):
        return False
    match op:
        case "gt":
            return bool(left > right)
        case "gte":
            return bool(left >= right)
        case "lt":
            return bool(left < right)
    return bool(left <= right)


def evaluate(condition: Condition, data: Any) -> bool:
    """Whether ``condition`` holds for ``data`` (a missing field is null)."""
    if isinstance(condition, Comparison):
        return _compare(condition.operator, value_at(data, condition.field), condition.value)
    results = (evaluate(item, data) for item in condition.items)
    match condition.kind:
        case "all":
            return all(results)
        case "any":
            return any(results)
        case "none":
            return not any(results)
    return not next(results)
