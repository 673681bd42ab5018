"""``stop_tasks``, for provider packages: cancel background tasks without waiting forever.

A provider that runs loops of its own (Valkey's queue listener and its pub/sub reader) stops them
in ``close()`` with it, as the host's runtime stops its loops. It lives in ``wfe_core._tasks``;
this module is the public name a provider imports it by.
"""

from ._tasks import stop_tasks

__all__ = ["stop_tasks"]
