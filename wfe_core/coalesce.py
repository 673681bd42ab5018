"""``Coalescer``, for provider packages: calls of one kind made together sent as one request.

The PostgreSQL and Valkey providers batch their lease acquires and releases with it,
PostgreSQL its new workflows, loads and enqueues, and SQLite its loads (``in_step`` turns a bulk
read into one answer per caller). The class lives in ``wfe_core._coalesce`` (its docstring says
how batches form and fail); this module is the public name a provider imports it by.
"""

from ._coalesce import MAX_BATCH, Coalescer, in_step

__all__ = ["MAX_BATCH", "Coalescer", "in_step"]
