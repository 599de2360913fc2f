"""The outbound side of the node: sending messages to other nodes over HTTP (`client`) and
multirequests to several at once (`_multi`).

Devices that call other nodes import this package, never the node's ASGI server
(`aonode.http`), so the server can change without touching them.
"""
