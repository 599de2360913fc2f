"""Devices: one module per device, named after it (`message.py` is `message@1.0`).

Devices are loaded by name through `aonode.core.devices.load_device`; this package only holds
their implementations.
"""

__all__: list[str] = []
