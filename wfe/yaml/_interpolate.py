"""Load-time variables: ``((var.path))`` and ``${{ var.path }}`` in string values.

Called by :mod:`wfe.yaml._loader` on every string scalar of a workflow. A string that is exactly
one reference takes the variable's value with its type (``timeout: ((limits.shell))`` stays a
number); a reference inside longer text is replaced by the value's text (JSON for what is not
a string). Values are substituted into the parsed tree, never into the YAML text, so a value
cannot change the file's structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REFERENCE", "Unresolved", "interpolate", "lookup"]

#: ``((a.b))`` or ``${{ a.b }}``; the name is letters, digits, ``_``, ``-`` and dots.
REFERENCE = re.compile(r"\(\(\s*([A-Za-z0-9_.\-]+)\s*\)\)|\$\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


class Unresolved(Exception):
    """A reference names no variable of the config."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_MISSING = object()


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    """The value at dotted ``name`` in ``variables`` (list items by index), or raise Unresolved."""
    value: Any = variables
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise Unresolved(name)
    return value


def interpolate(text: str, variables: Mapping[str, Any]) -> Any:
    """``text`` with every reference replaced; raises :class:`Unresolved` for the first unknown one."""
    whole = REFERENCE.fullmatch(text.strip())
    if whole is not None:
        return lookup(variables, whole.group(1) or whole.group(2))

    def replace(match: re.Match[str]) -> str:
        value = lookup(variables, match.group(1) or match.group(2))
        return value if isinstance(value, str) else json.dumps(value)

    return REFERENCE.sub(replace, text)


def unresolved_names(text: str, variables: Mapping[str, Any]) -> list[str]:
    """Every reference in ``text`` that names no variable (to report them all at once)."""
    missing = []
    for match in REFERENCE.finditer(text):
        name = match.group(1) or match.group(2)
        try:
            lookup(variables, name)
        except Unresolved:
            missing.append(name)
    return missing
