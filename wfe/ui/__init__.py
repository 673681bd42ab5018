"""wfe's web dashboard: see and steer the workflows of any store (``pip install "wfe[ui]"``).

``wfe ui --db URL`` serves it (:mod:`wfe._cli_ui`); :func:`create_app` gives the same ASGI
application to mount in an application of your own, over a host whose stores are open::

    async with WorkflowHost("sqlite:///app.db") as host:
        app = Starlette(routes=[Mount("/wfe", app=wfe.ui.create_app(host, read_only=True))])

Pages: the workflows (filters, text search, live counts per status), one workflow (its steps as
a tree and a timeline, errors, data, sub-workflows), the definitions drawn as graphs with their
instance counts, and the live hosts. Actions (suspend, resume, terminate, publish an event)
unless read-only.
"""

from ._app import create_app

__all__ = ["create_app"]
