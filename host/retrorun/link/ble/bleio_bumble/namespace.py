"""The module that `install()` puts into `sys.modules["_bleio"]`: CircuitPython's `_bleio` API
(central role) on bumble. `adapter` is the installed `Adapter`, None when not installed."""

from __future__ import annotations

from .adapter import Adapter
from .basics import (
    UUID,
    Address,
    Attribute,
    BluetoothError,
    ConnectionError,
    RoleError,
    SecurityError,
)
from .buffers import CharacteristicBuffer, PacketBuffer
from .gatt import Characteristic, Connection, Descriptor, Service
from .scan import ScanEntry, ScanResults

__all__ = [
    "UUID",
    "Adapter",
    "Address",
    "Attribute",
    "BluetoothError",
    "Characteristic",
    "CharacteristicBuffer",
    "Connection",
    "ConnectionError",
    "Descriptor",
    "PacketBuffer",
    "RoleError",
    "ScanEntry",
    "ScanResults",
    "SecurityError",
    "Service",
    "adapter",
    "set_adapter",
]

adapter: Adapter | None = None


def set_adapter(new_adapter: Adapter | None) -> None:
    """Replace `_bleio.adapter` (as CircuitPython allows for HCI adapters)."""
    global adapter
    adapter = new_adapter
