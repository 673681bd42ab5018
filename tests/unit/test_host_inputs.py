"""Bad input to a host that used to escape as a raw Python error: now a clear ``WfeError``,
and nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wfe import WorkflowHost
from wfe.errors import InvalidEventError

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


async def test_an_integer_key_too_long_to_write_as_text_is_refused() -> None:
    async with WorkflowHost("memory://") as host:
        with pytest.raises(InvalidEventError, match="too long to write as text; pass a string"):
            await host.publish_event("e", 10**5000)
        assert await host.persistence.get_runnable_events(FAR_FUTURE) == []
        await host.publish_event("e", 10**50)  # an ordinary integer key is still its digits
        [event_id] = await host.persistence.get_runnable_events(FAR_FUTURE)
        assert (await host.persistence.get_event(event_id)).event_key == str(10**50)
