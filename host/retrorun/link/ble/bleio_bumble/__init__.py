"""CircuitPython's `_bleio` (central role) on bumble, so unmodified `adafruit_ble` runs over any
HCI controller bumble can open: the laptop's USB dongle (`usb:0`), a TCP loopback to the
virtual board (`tcp-client:127.0.0.1:PORT`), or an in-process bumble `LocalLink` in tests.

    from retrorun.link.ble import bleio_bumble
    bleio_bumble.install("usb:0")          # or a LocalLink, or a powered bumble Device
    from adafruit_ble import BLERadio      # before or after install(): both work
    ...
    bleio_bumble.uninstall()               # the previous _bleio is back

`install(source)` opens/powers the device on the shared bumble loop (`bumble_loop.shared()`),
puts `namespace` (the `_bleio` API) into `sys.modules["_bleio"]`, and re-binds the `_bleio`
global of every already-imported module that had imported the previous `_bleio` (so
`adafruit_ble` imported earlier on blinka's `_bleio` now runs on bumble), the constants
`adafruit_ble` copied at import (`Attribute.*`, `Characteristic.*`), and the `_bleio.UUID`
inside every `adafruit_ble.uuid.UUID` already made (service classes define theirs at import;
found with a walk of the garbage collector's objects). References taken with
`from _bleio import X`, and other `_bleio` objects made before install, are not converted.
`uninstall()` reverses it all and closes what install opened. Peripheral-role calls (local services, advertising) raise NotImplementedError.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
from types import ModuleType
from typing import Any

from bumble import core, hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink

from retrorun.link.ble import bumble_loop

from . import namespace
from .adapter import DEFAULT_MTU, Adapter
from .basics import BluetoothError

__all__ = ["DEFAULT_MTU", "Adapter", "install", "installed", "namespace", "uninstall"]

_ATTRIBUTE_CONSTANTS = ("NO_ACCESS", "OPEN", "ENCRYPT_NO_MITM", "ENCRYPT_WITH_MITM",
                        "LESC_ENCRYPT_WITH_MITM", "SIGNED_NO_MITM", "SIGNED_WITH_MITM")
_PROPERTY_CONSTANTS = ("BROADCAST", "INDICATE", "NOTIFY", "READ", "WRITE", "WRITE_NO_RESPONSE")


@dataclasses.dataclass
class _Installed:
    previous: ModuleType | None
    adapter: Adapter
    device: Device
    owns_device: bool
    transport: Any = None  # the bumble Transport install() opened
    link: LocalLink | None = None
    controller: Controller | None = None


_state: _Installed | None = None
# the API as shipped: uninstall() puts back what was patched meanwhile (shim.install() patches
# `_bleio.PacketBuffer`)
_API = {name: getattr(namespace, name) for name in namespace.__all__ if name != "adapter"}


def installed() -> Adapter | None:
    """The installed adapter, or None."""
    return _state.adapter if _state else None


def install(source: str | Device | LocalLink, *, name: str = "retrorun",
            mtu: int = DEFAULT_MTU, timeout: float = 10.0) -> Adapter:
    """Make `_bleio` the bumble one, on `source`, and return its adapter.

    source: a bumble HCI transport spec (`usb:0`, `tcp-client:127.0.0.1:9000`, `serial:...`;
    see bumble.transport.open_transport), a bumble `LocalLink` (a new controller and device
    are put on it), or a bumble `Device` created on `bumble_loop.shared().loop` (powered on
    if it is not; it stays the caller's). `name` is the device name, `mtu` the ATT MTU asked
    for on every connection. Raises BluetoothError if the transport or controller fails,
    RuntimeError if already installed.
    """
    global _state
    if _state is not None:
        raise RuntimeError("bleio_bumble is already installed; call uninstall() first")
    loop = bumble_loop.shared()
    try:
        state = loop.run(_open(source, name), timeout)
    except (TypeError, BluetoothError):
        raise
    except Exception as error:
        raise BluetoothError(f"could not open the Bluetooth controller {source!r}: {error}") \
            from error
    state.adapter = Adapter(loop, state.device, mtu=mtu)
    state.previous = sys.modules.get("_bleio")
    namespace.adapter = state.adapter
    sys.modules["_bleio"] = namespace
    _rebind(state.previous, namespace)
    _state = state
    return state.adapter


async def _open(source, name: str) -> _Installed:
    """On the loop: a powered-on Device for `source`."""
    if isinstance(source, str):
        transport = await open_transport(source)
        device = Device.with_hci(name, hci.Address.generate_static_address(),
                                 transport.source, transport.sink)
        try:
            await device.power_on()
        except BaseException:
            await transport.close()
            raise
        return _Installed(None, None, device, True, transport=transport)
    if isinstance(source, LocalLink):
        controller = Controller(f"{name}-controller", link=source)
        device = Device(name=name, address=hci.Address.generate_static_address(),
                        host=Host(controller, AsyncPipeSink(controller)))
        await device.power_on()
        return _Installed(None, None, device, True, link=source, controller=controller)
    if isinstance(source, Device):
        if not source.powered_on:
            await source.power_on()
        return _Installed(None, None, source, False)
    raise TypeError(f"install() takes a transport spec, a bumble LocalLink or Device, "
                    f"not {type(source).__name__}")


def uninstall() -> None:
    """Close the connections and the scan, release what install() opened, and put the
    previous `_bleio` back (or none, if there was none). A no-op when not installed."""
    global _state
    state, _state = _state, None
    if state is None:
        return
    loop = bumble_loop.shared()
    try:
        state.adapter._close()
        if state.owns_device:
            try:
                loop.run(_shut(state), 10.0)
            except (core.BaseBumbleError, OSError, TimeoutError):
                pass  # the controller or its transport is already gone
    finally:
        namespace.adapter = None
        for name, value in _API.items():
            setattr(namespace, name, value)
        if sys.modules.get("_bleio") is namespace:
            if state.previous is None:
                del sys.modules["_bleio"]
            else:
                sys.modules["_bleio"] = state.previous
        _rebind(namespace, state.previous)


async def _shut(state: _Installed) -> None:
    await state.device.power_off()
    if state.transport is not None:
        await state.transport.close()
    if state.link is not None and state.controller in state.link.controllers:
        state.link.remove_controller(state.controller)


def _rebind(old: ModuleType | None, new: ModuleType | None) -> None:
    """Point every module's `_bleio` global that is `old` at `new`; refresh adafruit_ble's
    copied constants."""
    if old is None or new is None or old is new:
        return
    for module in list(sys.modules.values()):
        if module is old or module is new:
            continue
        globals_ = getattr(module, "__dict__", None)
        if isinstance(globals_, dict) and globals_.get("_bleio") is old:
            globals_["_bleio"] = new
    attributes = sys.modules.get("adafruit_ble.attributes")
    if attributes is not None:
        for constant in _ATTRIBUTE_CONSTANTS:
            setattr(attributes.Attribute, constant, getattr(new.Attribute, constant))
    characteristics = sys.modules.get("adafruit_ble.characteristics")
    if characteristics is not None:
        for constant in _PROPERTY_CONSTANTS:
            setattr(characteristics.Characteristic, constant,
                    getattr(new.Characteristic, constant))
    _convert_uuids(old, new)


def _convert_uuids(old: ModuleType, new: ModuleType) -> None:
    """Give every adafruit_ble UUID wrapper holding an `old.UUID` the equal `new.UUID`."""
    uuid_module = sys.modules.get("adafruit_ble.uuid")
    old_uuid = getattr(old, "UUID", None)
    if uuid_module is None or not isinstance(old_uuid, type):
        return
    for obj in gc.get_objects():
        if isinstance(obj, uuid_module.UUID) and isinstance(
                getattr(obj, "bleio_uuid", None), old_uuid):
            value = obj.bleio_uuid
            if value.size == 16:
                obj.bleio_uuid = new.UUID(value.uuid16)
            elif value.size == 128:
                obj.bleio_uuid = new.UUID(bytes(value.uuid128))
