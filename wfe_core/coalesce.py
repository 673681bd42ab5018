"""``Coalescer``, for provider packages: calls of one kind made together sent as one request.

The PostgreSQL and Valkey providers batch their lease acquires and releases with it,
PostgreSQL its new workflows and enqueues, and SQLite its leases; both stores' loads go through
``bulk_reads`` (single reads served by one bulk read, ``in_step`` pairing its results with the
callers). The class lives in ``wfe_core._coalesce`` (its docstring says how batches form and
fail); this module is the public name a provider imports it by.
"""

from ._coalesce import MAX_BATCH, Coalescer, bulk_reads, in_step

__all__ = ["MAX_BATCH", "Coalescer", "bulk_reads", "in_step"]
