"""Workflows are indexed for search in batches; a failed index write is tried again, not lost."""

from __future__ import annotations

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.errors import WfeError
from wfe_core._memory import MemorySearchIndex


class FlakyIndex(MemorySearchIndex):
    """The memory index, failing the first ``failures_left`` writes."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures_left = failures
        self.failed = 0

    async def index_workflow(self, instance):
        if self.failures_left:
            self.failures_left -= 1
            self.failed += 1
            raise OSError("the search index is unreachable")
        await super().index_workflow(instance)


one_step = WorkflowBuilder(dict).start_with(lambda ctx: None).build("OneStep", 1)


async def test_a_failed_index_write_is_tried_again(wait_until):
    index = FlakyIndex(failures=0)
    host = WorkflowHost("memory://", search=index)
    host.register(one_step)
    async with host:
        wids = [await host.start_workflow("OneStep", reference=f"order-{n}") for n in range(5)]
        for wid in wids:
            assert (await host.wait_for_workflow(wid, timeout=10)).status is WorkflowStatus.COMPLETE
        # The completions are gathered for the next batch: make two of their writes fail.
        index.failures_left = 2

        async def all_indexed() -> bool:
            try:
                page = await host.search(status=WorkflowStatus.COMPLETE)
            except WfeError:
                return False  # a flush that met the failures; the next one retries them
            return page.total == 5

        await wait_until(all_indexed, timeout=10, what="every workflow indexed as complete")
    assert index.failed == 2
