"""The search contract: :class:`SearchContract`, run against every search index.

A provider author subclasses the suite and supplies a ``search_index`` fixture that yields a
started, empty :class:`~wfe_core.providers.SearchIndex` and closes it afterwards. A search must
see every ``index_workflow`` that returned before it (an index with a refresh interval refreshes
on write).

The cases port workflow-core's ``SearchIndexTests`` (``reference/workflow-core-behaviour.md``
§2.37) to our :class:`~wfe_core.providers.SearchFilter`, on the same four instances (see
:func:`search_samples`; instances 1, 3 and 4 are a day apart instead of sharing one date, so that
"newest first" is a total order). Its custom-data filters (``ScalarFilter`` and ``DateRangeFilter``
on fields of the data, tests 3 and 4) are left out: our filters cover the instance's own fields
only. Terms are matched against the *values* of the data, which stand in for ``ISearchable``
tokens. WFE's OpenSearch tests (``reference/wfe-rust.md`` §7.4: terms, status filter, no results,
pagination, reference filter) are covered too.

The rule itself (:mod:`wfe_core.search`) is pinned with exact expectations: what text an
instance has (values, not keys or type tags), how a term matches it (the start of a word), the
order of ties, and bulk writes. Every expectation is one a store-side index can meet with a
word-start prefix match on the lower-cased words of :func:`wfe_core.search.searchable_text`.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from ..._models import WorkflowInstance, WorkflowStatus
from ...providers import SearchFilter, SearchIndex, SearchRemoval, WorkflowSummary
from ...serialization import encode_data

__all__ = ["SearchContract", "search_samples"]

NO_FILTER = SearchFilter()


class Shade(enum.Enum):
    """An enum stored in the data of :func:`rule_sample` (it is found by its value)."""

    TEAL = "teal"


def rule_sample() -> WorkflowInstance:
    """One instance whose data holds every kind of value the text rule treats differently."""
    data = {
        "customer": "bobby",
        "amount": Decimal("12.50"),
        "shade": Shade.TEAL,
        "due": date(2024, 3, 5),
        "flags": [True, False, None],
        "lines": [{"sku": "widget-9", "notes": ["deep", {"inner": "Gizmo"}]}],
        "pair": ("zulu", 77),
    }
    return WorkflowInstance(
        id="rule",
        definition_id="textrule",
        version=1,
        data=encode_data(data),
        reference="R-100",
        description="Quarterly audit",
        create_time=_day(2030),
    )


#: terms -> whether they find :func:`rule_sample` (the case of the text rule it shows).
RULE_TERMS = {
    # the values, wherever they nest, and the fields
    "bobby": True,
    "BOBBY": True,
    "widget": True,
    "widget-9": True,
    "9": True,
    "deep": True,
    "gizmo": True,
    "zulu": True,
    "77": True,
    "textrule": True,
    "r-100": True,
    "quarterly audit": True,
    # a tagged value by its text: decimal, enum value, date
    "12.50": True,
    "12": True,
    "teal": True,
    "2024-03-05": True,
    "2024": True,
    # the start of a word matches, not its middle
    "bob": True,
    "obb": False,
    "udit": False,
    "quart aud": True,
    # keys are not text
    "customer": False,
    "amount": False,
    "lines": False,
    "sku": False,
    "inner": False,
    "notes": False,
    # nor type tags, type paths, booleans and nulls
    "$wfe": False,
    "wfe": False,
    "decimal": False,
    "enum": False,
    "date": False,
    "tuple": False,
    "shade": False,
    "testing": False,
    "true": False,
    "false": False,
    "null": False,
    # every word must match
    "bobby zebra": False,
    "bobby teal": True,
}


def _day(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def search_samples() -> list[WorkflowInstance]:
    """The four instances of workflow-core's search contract, newest first: 2, 4, 3, 1."""

    def sample(
        number: str,
        created: datetime,
        status: WorkflowStatus,
        definition_id: str,
        data: Any,
        **more: Any,
    ) -> WorkflowInstance:
        fields: dict[str, Any] = {"version": 1, **more}
        return WorkflowInstance(
            id=number,
            definition_id=definition_id,
            status=status,
            data=encode_data(data),
            reference=f"ref{number}",
            create_time=created,
            **fields,
        )

    return [
        sample("1", _day(2010, 1, 1), WorkflowStatus.RUNNABLE, "orders", None),
        sample("2", _day(2020), WorkflowStatus.RUNNABLE, "orders", {"value3": 7}),
        sample(
            "3",
            _day(2010, 1, 2),
            WorkflowStatus.COMPLETE,
            "billing",
            {"value1": "quick fox", "value2": "lazy dog", "value3": 5},
            description="Invoice run",
            complete_time=_day(2010, 1, 3),
            version=2,
        ),
        sample(
            "4",
            _day(2010, 1, 3),
            WorkflowStatus.COMPLETE,
            "billing",
            {"value1": 9, "value2": _day(2000)},
        ),
    ]


async def _index_samples(search_index: SearchIndex) -> list[WorkflowInstance]:
    samples = search_samples()
    for instance in samples:
        await search_index.index_workflow(instance)
    return samples


async def _ids(
    search_index: SearchIndex,
    terms: str = "",
    filters: SearchFilter = NO_FILTER,
    skip: int = 0,
    take: int = 10,
) -> list[str]:
    page = await search_index.search(terms, filters, skip, take)
    return [item.id for item in page.items]


class SearchContract:
    """What every search index does. Needs a ``search_index`` fixture (started, empty)."""

    async def test_search_on_reference(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        found = await _ids(search_index, "ref1")
        assert "1" in found
        assert "2" not in found and "3" not in found
        found = await _ids(search_index, "ref2")
        assert "2" in found
        assert "1" not in found and "3" not in found

    async def test_search_on_data_needs_every_term(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        assert await _ids(search_index, "dog fox") == ["3"]
        assert await _ids(search_index, "fox") == ["3"]
        assert await _ids(search_index, "fox ref1") == []

    async def test_terms_are_case_insensitive(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        assert await _ids(search_index, "Lazy DOG") == ["3"]
        assert await _ids(search_index, "REF2") == ["2"]

    async def test_no_match_gives_an_empty_page(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        page = await search_index.search("zebra", NO_FILTER)
        assert page.items == []
        assert page.total == 0

    async def test_empty_terms_return_everything_newest_first(
        self, search_index: SearchIndex
    ) -> None:
        await _index_samples(search_index)
        page = await search_index.search("", NO_FILTER, 0, 10)
        assert [item.id for item in page.items] == ["2", "4", "3", "1"]
        assert page.total == 4

    async def test_hits_carry_the_instance_summary(self, search_index: SearchIndex) -> None:
        samples = {s.id: s for s in await _index_samples(search_index)}
        page = await search_index.search("fox", NO_FILTER)
        third = samples["3"]
        assert page.items == [
            WorkflowSummary(
                id="3",
                definition_id="billing",
                version=2,
                status=WorkflowStatus.COMPLETE,
                reference="ref3",
                description="Invoice run",
                create_time=third.create_time,
                complete_time=third.complete_time,
            )
        ]
        (hit,) = (await search_index.search("ref1", NO_FILTER)).items
        assert hit.description is None and hit.complete_time is None

    async def test_filter_on_reference(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        assert await _ids(search_index, filters=SearchFilter(reference="ref2")) == ["2"]
        assert await _ids(search_index, filters=SearchFilter(reference="ref")) == []

    async def test_filter_on_status(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        runnable = SearchFilter(status=WorkflowStatus.RUNNABLE)
        complete = SearchFilter(status=WorkflowStatus.COMPLETE)
        suspended = SearchFilter(status=WorkflowStatus.SUSPENDED)
        assert await _ids(search_index, filters=runnable) == ["2", "1"]
        assert await _ids(search_index, filters=complete) == ["4", "3"]
        assert await _ids(search_index, filters=suspended) == []

    async def test_filter_on_definition_id(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        assert await _ids(search_index, filters=SearchFilter(definition_id="billing")) == [
            "4",
            "3",
        ]
        assert await _ids(search_index, filters=SearchFilter(definition_id="bill")) == []

    async def test_filter_on_create_time_range(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        between = SearchFilter(created_after=_day(2000), created_before=_day(2015))
        assert await _ids(search_index, filters=between) == ["4", "3", "1"]
        assert await _ids(search_index, filters=SearchFilter(created_after=_day(2015))) == ["2"]
        before = SearchFilter(created_before=_day(2010, 1, 2))
        assert await _ids(search_index, filters=before) == ["1"]

    async def test_create_time_range_includes_after_and_excludes_before(
        self, search_index: SearchIndex
    ) -> None:
        await _index_samples(search_index)
        exactly = SearchFilter(created_after=_day(2010, 1, 2), created_before=_day(2010, 1, 3))
        assert await _ids(search_index, filters=exactly) == ["3"]

    async def test_filters_and_terms_combine(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        complete_billing = SearchFilter(status=WorkflowStatus.COMPLETE, definition_id="billing")
        assert await _ids(search_index, "fox", complete_billing) == ["3"]
        assert await _ids(search_index, "ref3", SearchFilter(status=WorkflowStatus.RUNNABLE)) == []
        runnable_orders_since_2015 = SearchFilter(
            status=WorkflowStatus.RUNNABLE, definition_id="orders", created_after=_day(2015)
        )
        assert await _ids(search_index, filters=runnable_orders_since_2015) == ["2"]

    async def test_paging_keeps_the_total(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        first = await search_index.search("", NO_FILTER, 0, 2)
        second = await search_index.search("", NO_FILTER, 2, 2)
        beyond = await search_index.search("", NO_FILTER, 4, 2)
        assert [item.id for item in first.items] == ["2", "4"]
        assert [item.id for item in second.items] == ["3", "1"]
        assert beyond.items == []
        assert first.total == second.total == beyond.total == 4
        filtered = await search_index.search("", SearchFilter(definition_id="billing"), 1, 1)
        assert [item.id for item in filtered.items] == ["3"]
        assert filtered.total == 2

    async def test_reindexing_replaces_the_instance(self, search_index: SearchIndex) -> None:
        samples = await _index_samples(search_index)
        first = samples[0]
        first.status = WorkflowStatus.COMPLETE
        first.reference = "renamed"
        first.description = "re-indexed"
        first.complete_time = _day(2011)
        await search_index.index_workflow(first)

        everything = await search_index.search("", NO_FILTER)
        assert [item.id for item in everything.items] == ["2", "4", "3", "1"]
        assert everything.total == 4
        assert await _ids(search_index, "ref1") == []
        assert await _ids(search_index, "renamed") == ["1"]
        assert await _ids(search_index, filters=SearchFilter(status=WorkflowStatus.RUNNABLE)) == [
            "2"
        ]
        assert await _ids(search_index, filters=SearchFilter(status=WorkflowStatus.COMPLETE)) == [
            "4",
            "3",
            "1",
        ]
        (hit,) = (await search_index.search("renamed", NO_FILTER)).items
        assert hit.description == "re-indexed"
        assert hit.complete_time == _day(2011)

    async def test_text_is_the_values_not_keys_or_type_tags(
        self, search_index: SearchIndex
    ) -> None:
        await search_index.index_workflow(rule_sample())
        found = {}
        for terms in RULE_TERMS:
            page = await search_index.search(terms, NO_FILTER)
            found[terms] = [item.id for item in page.items] == ["rule"]
            assert page.total == len(page.items), terms
        assert found == RULE_TERMS

    async def test_description_and_definition_match_at_word_starts(
        self, search_index: SearchIndex
    ) -> None:
        await _index_samples(search_index)
        assert await _ids(search_index, "inv") == ["3"]
        assert await _ids(search_index, "invoice RUN") == ["3"]
        assert await _ids(search_index, "voice") == []
        assert await _ids(search_index, "bill") == ["4", "3"]
        assert await _ids(search_index, "illing") == []
        assert await _ids(search_index, "value3") == []  # a key
        assert await _ids(search_index, "7") == ["2"]  # its value
        assert await _ids(search_index, "2000-01-01") == ["4"]  # a datetime value

    async def test_query_syntax_is_searched_as_text(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        assert await _ids(search_index, "fox*") == ["3"]
        assert await _ids(search_index, '"lazy dog"') == ["3"]
        assert await _ids(search_index, "fox OR zebra") == []
        assert await _ids(search_index, "NOT fox") == []
        assert await _ids(search_index, "value1:quick") == []  # value1 is a key
        assert await _ids(search_index, "(quick) AND dog~") == []  # "and" is a word too
        # Terms without a letter or digit have no words, and no words match everything.
        for terms in ("", "  ", "--", "*", '"', "$", "_", "?:()~/\\"):
            page = await search_index.search(terms, NO_FILTER, 0, 10)
            assert [item.id for item in page.items] == ["2", "4", "3", "1"], terms
            assert page.total == 4
        complete = SearchFilter(status=WorkflowStatus.COMPLETE)
        assert await _ids(search_index, "*", complete) == ["4", "3"]

    async def test_ties_in_create_time_are_ordered_by_id_descending(
        self, search_index: SearchIndex
    ) -> None:
        same = _day(2015)
        for wid in ("b", "a", "c", "ab"):
            await search_index.index_workflow(
                WorkflowInstance(id=wid, definition_id="tie", version=1, create_time=same)
            )
        await search_index.index_workflow(
            WorkflowInstance(id="0", definition_id="tie", version=1, create_time=_day(2016))
        )
        assert await _ids(search_index, "tie") == ["0", "c", "b", "ab", "a"]
        assert await _ids(search_index, "tie", skip=1, take=2) == ["c", "b"]
        assert await _ids(search_index, "tie", skip=3, take=2) == ["ab", "a"]

    async def test_a_bulk_write_is_seen_by_the_next_search(
        self, search_index: SearchIndex
    ) -> None:
        await search_index.index_workflows(search_samples())
        page = await search_index.search("", NO_FILTER, 0, 10)
        assert [item.id for item in page.items] == ["2", "4", "3", "1"]
        assert page.total == 4
        assert await _ids(search_index, "dog fox") == ["3"]
        assert await _ids(search_index, filters=SearchFilter(definition_id="billing")) == [
            "4",
            "3",
        ]
        await search_index.index_workflows([])
        assert (await search_index.search("", NO_FILTER)).total == 4

    async def test_a_bulk_write_keeps_the_newest_revision(
        self, search_index: SearchIndex
    ) -> None:
        def state(wid: str, revision: int, word: str, status: WorkflowStatus) -> WorkflowInstance:
            return WorkflowInstance(
                id=wid,
                definition_id="d",
                version=1,
                status=status,
                data=encode_data({"word": word}),
                revision=revision,
                create_time=_day(2020),
            )

        runnable, complete = WorkflowStatus.RUNNABLE, WorkflowStatus.COMPLETE
        # One workflow twice in a batch, the newer state first (w) and last (v).
        await search_index.index_workflows(
            [state("w", 3, "newer", complete), state("w", 2, "older", runnable)]
        )
        await search_index.index_workflows(
            [state("v", 4, "older", runnable), state("v", 5, "newer", complete)]
        )
        # Older states written later, in bulk or alone, change nothing.
        await search_index.index_workflows([state("w", 1, "oldest", runnable)])
        await search_index.index_workflow(state("v", 2, "oldest", runnable))

        async def shown() -> list[tuple[str, WorkflowStatus]]:
            page = await search_index.search("", NO_FILTER, 0, 10)
            assert page.total == 2
            return [(item.id, item.status) for item in page.items]

        assert await shown() == [("w", complete), ("v", complete)]
        assert await _ids(search_index, "newer") == ["w", "v"]
        assert await _ids(search_index, "older") == []
        assert await _ids(search_index, "oldest") == []
        # A newer state in a later batch replaces the entry.
        await search_index.index_workflows([state("w", 4, "latest", WorkflowStatus.SUSPENDED)])
        assert await shown() == [("w", WorkflowStatus.SUSPENDED), ("v", complete)]
        assert await _ids(search_index, "latest") == ["w"]
        assert await _ids(search_index, "newer") == ["v"]

    async def test_removed_workflows_are_found_no_more(self, search_index: SearchIndex) -> None:
        """``SearchRemoval`` (optional; every shipped index has it): purged entries go."""
        if not isinstance(search_index, SearchRemoval):
            pytest.skip(f"{type(search_index).__name__} does not offer SearchRemoval")
        samples = await _index_samples(search_index)
        await search_index.remove_workflows([samples[0].id, "never-indexed"])
        await search_index.remove_workflows([])
        left = sorted(await _ids(search_index))
        assert left == sorted(i.id for i in samples[1:])
        assert (await search_index.search("", NO_FILTER)).total == len(samples) - 1

    async def test_an_empty_index_finds_nothing(self, search_index: SearchIndex) -> None:
        page = await search_index.search("", NO_FILTER)
        assert page.items == []
        assert page.total == 0

    async def test_start_and_close_are_idempotent(self, search_index: SearchIndex) -> None:
        await _index_samples(search_index)
        await search_index.start()
        await search_index.start()
        assert (await search_index.search("", NO_FILTER)).total == 4
        await search_index.close()
        await search_index.close()
