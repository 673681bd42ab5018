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
only. Terms are matched against the data's JSON text, which stands in for ``ISearchable`` tokens.
WFE's OpenSearch tests (``reference/wfe-rust.md`` §7.4: terms, status filter, no results,
pagination, reference filter) are covered too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..._models import WorkflowInstance, WorkflowStatus
from ...providers import SearchFilter, SearchIndex, WorkflowSummary
from ...serialization import encode_data

__all__ = ["SearchContract", "search_samples"]

NO_FILTER = SearchFilter()


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
