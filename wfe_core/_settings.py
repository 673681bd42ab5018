"""``RuntimeSettings``: the host's tuning knobs, as the runtime's parts read them.

``WorkflowHost`` validates its keyword arguments and hands the runtime one frozen
``RuntimeSettings``; no part of the runtime reads the host itself.
"""

from __future__ import annotations

import attrs

__all__ = ["RuntimeSettings"]


@attrs.frozen
class RuntimeSettings:
    """Seconds and counts; see ``WorkflowHost`` for what each one means."""

    max_concurrent_workflows: int = 256
    poll_interval: float = 10.0
    lease_ttl: float = 30.0
    stop_timeout: float = 30.0
    thread_pool_size: int = 32
    max_parallel_steps: int = 64
    heartbeat_interval: float = 10.0
    #: Seconds after completion that finished workflows are kept; None: kept for ever.
    retention: float | None = None
