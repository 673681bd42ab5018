"""The search rule: what every search index finds, and in what order.

One owner for the semantics of ``host.search``, so that every provider gives the same answer;
an index translates this rule into its store, it does not re-decide it. The memory and SQLite
indexes call these functions; a PostgreSQL or OpenSearch index stores
:func:`searchable_text` and asks its store for the same thing (a word-start prefix match on
those words, the filters, newest first), and the search contract
(``wfe_core.testing.contracts.search``) checks that it does.

**Text.** An instance's searchable text is the words (:func:`~wfe_core.providers.search_words`:
runs of letters and digits, lower-cased) of its definition id, reference, description and the
*values* of its data: strings and numbers, wherever they nest in lists and objects, and the value
of a tagged one (an enum's value, a decimal, a date or datetime as ISO text, a tuple's items).
Keys, booleans, nulls, wfe's ``$wfe`` type tags and the type paths they carry are not text. At
most :data:`MAX_DATA_TEXT` characters of values count.

**Waits.** A running workflow whose step waits on an activity or a person is findable as such:
its text also holds ``awaiting activity NAME`` or ``awaiting user task ASSIGNEE`` (see
:func:`waiting_text`), so ``awaiting-activity``, ``bake`` or ``ann`` find it until it is answered.

**Terms.** A search's terms are split by the same rule; each word must be the start of a word of
the text, so ``"piz"`` finds "pizza" and ``"izza"`` does not. No words (empty terms, or only
punctuation) match everything.

**Filters and order.** ``SearchFilter`` fields must equal the instance's (``created_after`` is
inclusive, ``created_before`` exclusive); hits come newest first by create time, ties by id
descending, so that a page boundary is the same on every provider and every run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ._models import WorkflowInstance
from ._waits import waiting_words
from .providers import SearchFilter, SearchPage, WorkflowSummary, search_words

__all__ = [
    "AT_LEAST",
    "BELOW",
    "EQUALS",
    "MAX_DATA_TEXT",
    "data_values",
    "filter_conditions",
    "instance_text",
    "matches_filter",
    "matches_words",
    "newest_first",
    "page_of",
    "searchable_text",
    "summary_of",
    "waiting_text",
]

#: Characters of an instance's data values that are searchable. What people search for (order
#: numbers, names, e-mails) sits in small fields, so a multi-megabyte payload should not cost its
#: size in index work each time it changes.
MAX_DATA_TEXT = 256 * 1024

# The tag key of wfe's serialized values ({"$wfe": "decimal", "v": "1.5"}): only "v" is data.
_TAG = "$wfe"


def searchable_text(
    definition_id: str | None,
    reference: str | None,
    description: str | None,
    data: str | None,
    waiting: str | None = None,
) -> str:
    """The searchable words of an instance's fields, lower-cased and space-separated.

    Args:
        data: the instance's data as JSON text (see :func:`data_values`).
        waiting: what it waits on outside the engine, :func:`waiting_text`.
    """
    parts = [definition_id, reference, description, data_values(data), waiting]
    return " ".join(word for part in parts if part for word in search_words(part))


def instance_text(instance: WorkflowInstance) -> str:
    """:func:`searchable_text` of ``instance`` (whose ``data`` is JSON text)."""
    return searchable_text(
        instance.definition_id, instance.reference, instance.description, instance.data,
        waiting_text(instance),
    )


def waiting_text(instance: WorkflowInstance) -> str:
    """The words of what ``instance`` waits on outside the engine; "" when nothing.

    A step waiting on an activity adds ``awaiting activity NAME``, one waiting on a person
    ``awaiting user task ASSIGNEE [ESCALATES_TO]``; an index that keeps a digest of an entry's
    sources to skip unchanged ones must count this among them (it changes with no data change).
    """
    return waiting_words(instance)


def data_values(data: str | None) -> str:
    """The values of JSON workflow data as text, space-separated, in document order.

    Keys, booleans, nulls and wfe's type tags are left out; at most :data:`MAX_DATA_TEXT`
    characters are kept. Text that is not JSON counts as it is.
    """
    if data is None:
        return ""
    try:
        value = json.loads(data)
    except ValueError:
        return data[:MAX_DATA_TEXT]
    parts: list[str] = []
    size = 0
    for text in _values(value):
        parts.append(text)
        size += len(text) + 1
        if size >= MAX_DATA_TEXT:
            break
    return " ".join(parts)[:MAX_DATA_TEXT]


def _values(value: Any) -> Iterator[str]:
    # An explicit stack rather than recursion: user data may nest deeper than Python recurses.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, (int, float)):
            yield str(item)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            if _TAG in item and "v" in item:
                tagged = item["v"]
                if item[_TAG] == "map" and isinstance(tagged, list):
                    # A dict with keys JSON cannot hold: [[key, value], ...]; keys are not text.
                    tagged = [p[1] for p in tagged if isinstance(p, list) and len(p) == 2]
                stack.append(tagged)
            else:
                stack.extend(reversed(item.values()))


def matches_words(text: str, words: Sequence[str]) -> bool:
    """Whether each of ``words`` starts a word of ``text`` (made by :func:`searchable_text`).

    ``words`` are the terms' :func:`~wfe_core.providers.search_words`; none match everything.
    """
    padded = " " + text
    return all(" " + word in padded for word in words)


def summary_of(instance: WorkflowInstance) -> WorkflowSummary:
    """The search hit that shows ``instance``."""
    return WorkflowSummary(
        id=instance.id,
        definition_id=instance.definition_id,
        version=instance.version,
        status=instance.status,
        reference=instance.reference,
        description=instance.description,
        create_time=instance.create_time,
        complete_time=instance.complete_time,
    )


#: A filter condition's comparison: the field equals, is at least, or is below the value.
EQUALS, AT_LEAST, BELOW = "=", ">=", "<"


def filter_conditions(filters: SearchFilter) -> list[tuple[str, str, Any]]:
    """The filters that are set, as ``(field, comparison, value)``: the one statement of what
    each filter means, which every index translates into its store's query.

    ``field`` is a :class:`~wfe_core.providers.WorkflowSummary` attribute (``status``,
    ``definition_id``, ``reference``, ``create_time``), ``comparison`` one of
    :data:`EQUALS`, :data:`AT_LEAST`, :data:`BELOW`; ``value`` is the filter's own (a
    ``WorkflowStatus``, a string or an aware datetime), for the index to convert.
    """
    f = filters
    found: list[tuple[str, str, Any]] = []
    if f.status is not None:
        found.append(("status", EQUALS, f.status))
    if f.definition_id is not None:
        found.append(("definition_id", EQUALS, f.definition_id))
    if f.reference is not None:
        found.append(("reference", EQUALS, f.reference))
    if f.created_after is not None:
        found.append(("create_time", AT_LEAST, f.created_after))
    if f.created_before is not None:
        found.append(("create_time", BELOW, f.created_before))
    return found


def matches_filter(summary: WorkflowSummary, filters: SearchFilter) -> bool:
    """Whether ``summary`` passes every filter that is set."""
    for name, comparison, value in filter_conditions(filters):
        have = getattr(summary, name)
        if comparison == EQUALS:
            if have != value:
                return False
        elif comparison == AT_LEAST:
            if have < value:
                return False
        elif have >= value:
            return False
    return True


def newest_first(hits: Iterable[WorkflowSummary]) -> list[WorkflowSummary]:
    """``hits`` in search order: newest create time first, ties by id descending."""
    return sorted(hits, key=lambda s: (s.create_time, s.id), reverse=True)


def page_of(hits: Iterable[WorkflowSummary], skip: int, take: int) -> SearchPage:
    """One page of ``hits`` in search order, with the total number of hits."""
    ordered = newest_first(hits)
    start = max(skip, 0)
    return SearchPage(items=ordered[start : start + max(take, 0)], total=len(ordered))
