"""``ValkeyClient``: the one redis-py client a host's lock, queue and lifecycle events share.

The backend makes it, connects it before the providers start and closes it after they close.
Every server call goes through :meth:`ValkeyClient.run`, which translates driver errors
(``_errors.translate``), and every key through :meth:`ValkeyClient.key`, which puts the URL's
prefix in front.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from wfe_core.errors import ProviderUnavailableError

from ._errors import translate
from ._url import ValkeyOptions

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["ValkeyClient"]

log = logging.getLogger("wfe.valkey")

T = TypeVar("T")

#: Seconds to wait for a TCP connection, and for any reply. Blocking reads ask for at most a
#: few seconds, so a reply later than this means the server or the network is gone.
CONNECT_TIMEOUT = 5.0
REPLY_TIMEOUT = 15.0
#: The longest a call may take beyond its own blocking wait, whatever the socket does.
CALL_DEADLINE = REPLY_TIMEOUT + CONNECT_TIMEOUT
#: Connections to the server at most; more calls at once wait their turn for one.
MAX_CONNECTIONS = 64
#: How often, a second apart, a background task that has not ended is cancelled at close.
STOP_ATTEMPTS = 5


class ValkeyClient:
    """A connection pool to one server, database and prefix."""

    def __init__(self, options: ValkeyOptions) -> None:
        self.options = options
        self._redis: Redis | None = None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise ProviderUnavailableError(f"Valkey at {self.options.display} is not connected")
        return self._redis

    def key(self, *parts: str) -> str:
        """``prefix:part:part``; parts are data (``{``, ``*``, newlines are kept as they are)."""
        return ":".join((self.options.prefix, *parts))

    async def connect(self) -> None:
        """Make the pool and check the server answers.

        Raises:
            ProviderUnavailableError: the server cannot be reached.
            ConfigurationError: it refuses the login.
        """
        if self._redis is not None:
            return
        from redis.asyncio import BlockingConnectionPool, Redis

        # A pool that waits for a free connection: redis-py's default one refuses the call
        # past its limit ("Too many connections"), so a burst of starts, each taking and
        # giving back a lease, failed as if Valkey were down.
        pool = BlockingConnectionPool.from_url(
            self.options.client_url,
            max_connections=MAX_CONNECTIONS,
            timeout=CALL_DEADLINE,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=REPLY_TIMEOUT,
            health_check_interval=30,
            **_driver_version(),
        )
        client = Redis.from_pool(pool)  # closes the pool when the client closes
        self._redis = client
        try:
            await self.run("connecting", client.ping)
        except BaseException:
            self._redis = None
            await client.aclose()
            raise

    async def close(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def run(self, doing: str, call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await call(*args, **kwargs)`` with driver errors translated.

        Raises:
            ProviderUnavailableError: the server is down, restarting or not answering.
            ProviderError: anything else the server refused.
        """
        from redis.exceptions import RedisError

        # A server that stops answering must not hang a host: every call has a deadline
        # (a blocking read's own wait plus CALL_DEADLINE).
        limit = CALL_DEADLINE + float(kwargs.get("timeout") or 0)
        try:
            async with asyncio.timeout(limit):
                return await call(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise translate(exc, self.options, doing) from exc
        except TimeoutError as exc:
            raise ProviderUnavailableError(
                f"Valkey at {self.options.display} did not answer {doing} within {limit:g} s"
            ) from exc


def _driver_version() -> dict[str, Any]:
    """redis-py's own version, given to the pool: each new connection otherwise reads it from
    the installed packages' metadata (0.6 ms of CPU each, measured: 39 ms for a pool of 64).
    Newer redis-py takes it as ``driver_info``, older releases as ``lib_version``."""
    from redis import __version__ as version

    try:
        from redis.driver_info import DriverInfo
    except ImportError:
        return {"lib_version": version}
    return {"driver_info": DriverInfo(lib_version=version)}
