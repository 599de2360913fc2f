"""HTTP: the ASGI server (`server`: `create_app`) and the outbound client (`client`)."""

from aonode.http.server import NodeApp, create_app

__all__ = ["NodeApp", "create_app"]
