"""The index template of ``<prefix>-workflows`` and the document of one workflow in it.

Used by :class:`~wfe_opensearch.OpenSearchSearchIndex`. One document per workflow, its id the
workflow's id, its external version the workflow's revision (so the newest state wins).

Fields:

* ``id``, ``definition_id``, ``version``, ``status``, ``reference``: keywords, for the exact
  filters of :class:`~wfe_core.providers.SearchFilter`. Lucene refuses a keyword over 32,766
  bytes, and with it the whole document, so ``reference`` is indexed up to
  :data:`REFERENCE_CHARS` characters (``ignore_above``) and ``reference_hash``, its SHA-256,
  serves the filter of a longer one (:func:`reference_filter`); ``id`` is also the tie-break of the
  sort (a keyword sorts by its UTF-8 bytes, which is code point order: Python's ``str`` order).
* ``create_time``, ``complete_time``: dates, for people and dashboards. OpenSearch keeps dates
  to the millisecond, so filters and order use ``create_us`` instead: the create time in
  microseconds since the epoch, a ``long``, exact like the stored datetime.
* ``description``: text (standard analyzer), for dashboards; the rule searches its words
  through ``text``.
* ``text``: the rule's words, :func:`wfe_core.search.instance_text`: lower-cased runs of letters
  and digits separated by single spaces. It is analysed by the built-in ``whitespace`` analyzer
  (split at whitespace, fold nothing), so its terms are exactly the rule's words (each cut to
  :data:`MAX_WORD`); ``index_prefixes`` makes a prefix query on them an indexed look-up. Kept out of ``_source``: it can be large, and is
  rebuilt from persistence, never read back.

Why a template and not only an index: a ``_bulk`` write to an index that was deleted meanwhile
(``wfe reindex`` after a wipe, an operator's mistake) creates it again; the template gives that
new index this mapping, not one guessed from the first document.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from wfe_core.models import WorkflowInstance, WorkflowStatus
from wfe_core.providers import WorkflowSummary
from wfe_core.search import instance_text, summary_of

__all__ = [
    "MAPPING_VERSION",
    "MAX_WORD",
    "REFERENCE_CHARS",
    "cut_word",
    "document",
    "micros",
    "reference_filter",
    "reference_properties",
    "summary",
    "template",
]

#: Bumped when the mapping changes; an index made by another version is refused, not misread.
#: Version 2 added ``reference_hash`` and ``ignore_above`` on ``reference``; an index of
#: version 1 is brought to it in place (its documents all have short references).
MAPPING_VERSION = 2

#: Characters of a reference its keyword indexes: 4 UTF-8 bytes each at most, within Lucene's
#: 32,766-byte term. A longer reference is found by ``reference_hash``.
REFERENCE_CHARS = 8_191

#: UTF-16 code units of one word that are indexed: the ``whitespace`` analyzer splits a longer
#: token into pieces, which would add words that are not the rule's. So a longer word is cut to
#: its start before it is indexed, and a search word the same way. Real words are far shorter.
MAX_WORD = 255

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_KEYWORD = {"type": "keyword"}

#: The summary fields a search hit reads back from ``_source``.
SUMMARY_FIELDS = [
    "id",
    "definition_id",
    "version",
    "status",
    "reference",
    "description",
    "create_time",
    "complete_time",
]


def template(index_name: str, refresh_interval: str = "1s") -> dict[str, Any]:
    """The composable index template for ``index_name`` (it matches that name only)."""
    return {
        "index_patterns": [index_name],
        "priority": 100,
        "_meta": {"wfe_mapping": MAPPING_VERSION},
        "template": {
            "settings": {
                "index": {
                    # Set explicitly: a shard with a default interval stops refreshing when
                    # no search came for 30 s, and a write waiting for a refresh would wait
                    # for the next search instead.
                    "refresh_interval": refresh_interval,
                },
            },
            "mappings": {
                "dynamic": "strict",
                "_meta": {"wfe_mapping": MAPPING_VERSION},
                "_source": {"excludes": ["text"]},
                "properties": {
                    "id": _KEYWORD,
                    "definition_id": _KEYWORD,
                    "version": _KEYWORD,
                    "status": _KEYWORD,
                    **reference_properties(),
                    "description": {"type": "text"},
                    "create_time": {"type": "date"},
                    "complete_time": {"type": "date"},
                    "create_us": {"type": "long"},
                    "text": {
                        "type": "text",
                        # Built into every OpenSearch (no analysis-common module needed): it
                        # splits at whitespace and folds nothing.
                        "analyzer": "whitespace",
                        "index_options": "docs",
                        "norms": False,
                        "index_prefixes": {"min_chars": 1, "max_chars": 19},
                    },
                },
            },
        },
    }


def reference_properties() -> dict[str, Any]:
    """The mapping of ``reference`` and ``reference_hash`` (also put on a version 1 index)."""
    return {
        "reference": {"type": "keyword", "ignore_above": REFERENCE_CHARS},
        "reference_hash": _KEYWORD,
    }


def _digest(reference: str) -> str:
    return hashlib.sha256(reference.encode("utf-8", "surrogatepass")).hexdigest()


def reference_filter(reference: str) -> dict[str, Any]:
    """The ``term`` query that finds the documents whose reference is ``reference``."""
    if len(reference) > REFERENCE_CHARS:
        return {"term": {"reference_hash": _digest(reference)}}
    return {"term": {"reference": reference}}


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (``create_us``)."""
    return (moment - _EPOCH) // _MICRO


def document(instance: WorkflowInstance) -> dict[str, Any]:
    """The document of ``instance`` (whose ``data`` is JSON text)."""
    fields = attrs.asdict(summary_of(instance), recurse=False)
    complete = instance.complete_time
    return {
        **fields,
        "status": instance.status.value,
        "create_time": _iso(instance.create_time),
        "complete_time": _iso(complete) if complete is not None else None,
        "create_us": micros(instance.create_time),
        "reference_hash": None if instance.reference is None else _digest(instance.reference),
        "text": " ".join(map(cut_word, instance_text(instance).split(" "))),
    }


def cut_word(word: str) -> str:
    """``word`` cut to at most :data:`MAX_WORD` UTF-16 code units (Java's ``char``)."""
    if len(word) <= MAX_WORD // 2:
        return word  # even if every character took two units
    units = 0
    for end, char in enumerate(word):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > MAX_WORD:
            return word[:end]
    return word


def summary(source: dict[str, Any]) -> WorkflowSummary:
    """The search hit of a document's ``_source``."""
    complete = source.get("complete_time")
    return WorkflowSummary(
        id=source["id"],
        definition_id=source["definition_id"],
        version=int(source["version"]),
        status=WorkflowStatus(source["status"]),
        reference=source.get("reference"),
        description=source.get("description"),
        create_time=datetime.fromisoformat(source["create_time"]),
        complete_time=datetime.fromisoformat(complete) if complete else None,
    )


def _iso(moment: datetime) -> str:
    # Full precision and an explicit offset: _source gives back this text, read exactly.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
