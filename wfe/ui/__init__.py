"""The web dashboard: see and steer workflows in a store (``wfe ui``), or mount it in an ASGI app."""

__all__: list[str] = []
