"""PostgreSQL down for a while under a running host: calls fail in bounded time, and the first
call after the server answers again succeeds at once, however long the outage was.

The pool's own reconnection backs off exponentially (psycopg_pool: 1, 2, 4 ... s), so after a
long outage its next attempt could come minutes after the server is back. Sixteen seconds
down is enough to show it (its attempts then come at 15 and 31 s): the host's calls must not
wait for that. Uses a cluster of the test's own (``tests.postgres._cluster``), never the shared
server. ``start()`` against a server that is down says what to do (no test server needed).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from tests.postgres._cluster import Cluster, cluster_or_skip
from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.errors import ProviderUnavailableError

pytest.importorskip("psycopg")

#: Seconds the server stays down: long enough for the pool's backoff to pass 8 s.
DOWN = 16.0
#: The store's call_timeout in these tests, and the slack a failed call may take beyond it.
CALL_TIMEOUT = 2.0
SLACK = 1.0
#: The issue's target: the first call after the server answers succeeds within this.
RECOVER_WITHIN = 2.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with cluster_or_skip() as made:
        yield made


def _definition() -> object:
    return WorkflowBuilder(dict).start_with(lambda ctx: None).build("outage", 1)


@pytest.mark.slow
async def test_after_a_long_outage_the_first_call_succeeds_at_once_and_calls_during_it_fail_in_bounded_time(
    cluster: Cluster,
) -> None:
    url = (
        f"postgresql://wfe:wfe@127.0.0.1:{cluster.port}/wfe_test?schema=wfe_outage&pool_size=3"
        f"&call_timeout={CALL_TIMEOUT:g}"
    )
    async with WorkflowHost(url, poll_interval=1.0) as host:
        host.register(_definition())  # type: ignore[arg-type]
        first = await host.start_workflow("outage")
        assert (await host.wait_for_workflow(first, timeout=30)).status is WorkflowStatus.COMPLETE

        stopped = await asyncio.to_thread(cluster.ctl, "stop")
        assert stopped.returncode == 0, stopped.stderr
        down_until = time.monotonic() + DOWN
        starts: list[float] = []
        reads: list[float] = []
        while time.monotonic() < down_until:
            began = time.monotonic()
            with pytest.raises(ProviderUnavailableError):
                await host.start_workflow("outage")
            starts.append(time.monotonic() - began)
            began = time.monotonic()
            with pytest.raises(ProviderUnavailableError):
                await host.persistence.get_status(first)
            reads.append(time.monotonic() - began)
            await asyncio.sleep(0.2)
        # A start takes the workflow's lease and writes it: two calls, each within call_timeout.
        assert max(starts) <= 2 * CALL_TIMEOUT + SLACK, f"starts during the outage took {starts}"
        assert max(reads) <= CALL_TIMEOUT + SLACK, f"reads during the outage took {reads}"
        # Once the pool has given up reconnecting, calls fail at once.
        assert max(starts[-5:] + reads[-5:]) < SLACK, (starts, reads)

        await asyncio.to_thread(cluster.ensure_up)
        answered = time.monotonic()  # it accepted a connection just now
        while True:
            try:
                wid = await host.start_workflow("outage")
                break
            except ProviderUnavailableError:
                await asyncio.sleep(0.05)
        recovered = time.monotonic() - answered
        assert recovered <= RECOVER_WITHIN, (
            f"the first call succeeded {recovered:.1f} s after the server answered again"
        )
        assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_start_with_the_server_down_says_to_try_again_not_that_wfe_retries() -> None:
    """``start()`` does not retry: its error must not promise it does, and says what to do."""
    host = WorkflowHost(f"postgresql://wfe:wfe@127.0.0.1:{_free_port()}/wfe_test")
    with pytest.raises(ProviderUnavailableError) as caught:
        await host.start()
    text = str(caught.value)
    assert "retries by itself" not in text
    assert "try again" in text, text


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", ""])
def test_a_call_timeout_that_is_not_a_positive_number_is_refused_at_construction(value: str) -> None:
    from wfe.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="call_timeout"):
        WorkflowHost(f"postgresql://wfe:wfe@127.0.0.1:5432/wfe_test?call_timeout={value}")


def test_call_timeout_is_wfes_not_libpqs() -> None:
    from wfe_postgres._url import DEFAULT_CALL_TIMEOUT, parse_url

    options = parse_url("postgresql://u@h/db?call_timeout=2.5&sslmode=disable")
    assert options.call_timeout == 2.5 and "call_timeout" not in options.conninfo
    assert parse_url("postgresql://u@h/db").call_timeout == DEFAULT_CALL_TIMEOUT
