"""A host process for the two-host trace test (run as ``python -m``).

Usage: python -m tests.integration._trace_worker MODE DB_URL OUT_DIR

MODE ``start``: start one workflow, run its first pass here (up to its wait for an event) and
exit. MODE ``finish``: publish the event and run the workflow to its end. Each process writes
the spans it made, one JSON object a line, to ``OUT_DIR/spans-MODE.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from wfe import PointerStatus, WorkflowBuilder, WorkflowHost, WorkflowStatus


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.path.open("a") as out:
            for span in spans:
                out.write(json.dumps({
                    "name": span.name,
                    "trace_id": f"{span.context.trace_id:032x}",
                    "span_id": f"{span.context.span_id:016x}",
                    "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                    "attributes": dict(span.attributes or {}),
                }) + "\n")
        return SpanExportResult.SUCCESS


def first(ctx: Any) -> None:
    pass


def last(ctx: Any) -> None:
    pass


definition = (
    WorkflowBuilder(dict)
    .start_with(first).name("First")
    .wait_for("go", "two-hosts")
    .then(last).name("Last")
    .end_workflow()
    .build("two-hosts", 1)
)


async def main() -> None:
    mode, url, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(out_dir / f"spans-{mode}.jsonl")))
    ids = out_dir / "wid.txt"
    async with WorkflowHost(url, tracer_provider=provider, poll_interval=0.2) as host:
        host.register(definition)
        if mode == "start":
            wid = await host.start_workflow("two-hosts", {})
            for _ in range(1000):
                instance = await host.get_workflow(wid)
                if any(p.status is PointerStatus.WAITING_FOR_EVENT for p in instance.execution_pointers):
                    break
                await asyncio.sleep(0.01)
            ids.write_text(wid)
        else:
            wid = ids.read_text()
            await host.publish_event("go", "two-hosts")
            done = await host.wait_for_workflow(wid, timeout=30)
            assert done.status is WorkflowStatus.COMPLETE, done.status
    provider.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
