"""The GATT client side of `_bleio`: `Connection`, and the remote `Service`, `Characteristic`
and `Descriptor` it discovers, on top of a bumble `Connection`/`Peer`.

Every call is synchronous: it runs a coroutine on the bumble loop (`bumble_loop.shared()`) and
waits. Notifications arrive on the loop's thread and are handed to the callbacks registered
with `Characteristic._add_notify_callback` (the buffers, which lock). A link loss, seen on the
loop's thread, marks the Connection not connected, wakes those waiting on it, and every later
call raises `ConnectionError`. Local (peripheral) services, characteristics and descriptors are
not supported and raise NotImplementedError.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any

from bumble import gatt
from bumble.device import Peer

from .basics import (
    UUID,
    BluetoothError,
    ConnectionError,
    SecurityError,
    uuid_from_bumble,
    uuid_to_bumble,
)

GATT_TIMEOUT = 15.0  # seconds for one GATT procedure (bumble's own ATT timeout is 30 s)
_NO_LOCAL = ("the bumble _bleio is a GATT client (central) only: local services, "
             "characteristics and descriptors (peripheral role) are not supported")

# bumble's characteristic property bits -> _bleio's
_PROPERTY_MAP = (
    (gatt.Characteristic.Properties.BROADCAST, 0x01),
    (gatt.Characteristic.Properties.INDICATE, 0x02),
    (gatt.Characteristic.Properties.NOTIFY, 0x04),
    (gatt.Characteristic.Properties.READ, 0x08),
    (gatt.Characteristic.Properties.WRITE, 0x10),
    (gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE, 0x20),
)


class Connection:
    """A connection to a peripheral, made by `Adapter.connect`."""

    def __init__(self, *args, **kwargs) -> None:
        raise TypeError("Connections are made by _bleio.adapter.connect()")

    @classmethod
    def _wrap(cls, loop, bumble_connection) -> Connection:
        """Called on the loop's thread right after the link is up (so no loss goes unseen)."""
        self = cls.__new__(cls)
        self._loop = loop
        self._link = bumble_connection
        self._peer = Peer(bumble_connection)
        self._connected = True
        self._loss_listeners: list[Callable[[], None]] = []
        self.disconnect_reason: int | None = None
        bumble_connection.on(bumble_connection.EVENT_DISCONNECTION, self._on_disconnection)
        return self

    def _on_disconnection(self, reason: int) -> None:
        self._connected = False
        self.disconnect_reason = reason
        for listener in list(self._loss_listeners):
            listener()

    def _add_loss_listener(self, listener: Callable[[], None]) -> None:
        self._loss_listeners.append(listener)

    def _remove_loss_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._loss_listeners:
            self._loss_listeners.remove(listener)

    def _check(self) -> None:
        if not self._connected:
            raise ConnectionError("Connection has been disconnected and can no longer be used")

    def _run(self, make: Callable[[], Coroutine[Any, Any, Any]], timeout: float = GATT_TIMEOUT,
             what: str = "GATT operation") -> Any:
        """Run make() on the loop; bumble's failures become _bleio's exceptions."""
        self._check()
        try:
            return self._loop.run(make(), timeout)
        except BluetoothError:
            raise
        except (Exception, concurrent.futures.CancelledError) as error:
            if not self._connected:
                raise ConnectionError(f"{what}: the link was lost") from error
            raise BluetoothError(f"{what} failed: {error!r}") from error

    @property
    def connected(self) -> bool:
        """True until the link is closed by either side or lost."""
        return self._connected

    @property
    def paired(self) -> bool:
        """True if the link is encrypted (paired)."""
        return self._connected and bool(self._link.is_encrypted)

    def pair(self, *, bond: bool = True) -> None:
        """Pair (bumble's default pairing configuration; `bond` is not honoured separately)."""
        try:
            self._run(self._link.pair, 60.0, "pairing")
        except ConnectionError:
            raise
        except BluetoothError as error:
            raise SecurityError(str(error)) from error

    @property
    def connection_interval(self) -> float:
        """Time between connection events, ms (a multiple of 1.25)."""
        return float(self._link.parameters.connection_interval)

    @connection_interval.setter
    def connection_interval(self, value: float) -> None:
        params = self._link.parameters
        self._run(lambda: self._link.update_parameters(
            value, value, params.peripheral_latency, params.supervision_timeout),
            what="connection parameter update")

    @property
    def max_packet_length(self) -> int:
        """Largest ATT payload of one notification or write: negotiated ATT MTU - 3."""
        return int(self._link.att_mtu) - 3

    def disconnect(self) -> None:
        """Close the link (no-op if already closed)."""
        if not self._connected:
            return
        try:
            self._run(self._link.disconnect, 10.0, "disconnect")
        except ConnectionError:
            pass

    def discover_remote_services(self, service_uuids_whitelist=None) -> tuple[Service, ...]:
        """Discover the peer's primary services (only those in the whitelist if one is given),
        with their characteristics and descriptors."""
        wanted = [uuid_to_bumble(u) for u in service_uuids_whitelist or ()]

        async def discover():
            services = await self._peer.discover_services(wanted)
            for service in services:
                for characteristic in await service.discover_characteristics():
                    await characteristic.discover_descriptors()
            return services

        proxies = self._run(discover, what="service discovery")
        return tuple(Service._remote(self, proxy) for proxy in proxies)

    def __repr__(self) -> str:
        state = "connected" if self._connected else "disconnected"
        return f"<Connection {self._link.peer_address} {state}>"


class Service:
    """A remote primary service (found by `Connection.discover_remote_services`)."""

    def __init__(self, uuid: UUID, *, secondary: bool = False) -> None:
        raise NotImplementedError(_NO_LOCAL)

    @classmethod
    def _remote(cls, connection: Connection, proxy) -> Service:
        self = cls.__new__(cls)
        self._connection = connection
        self._proxy = proxy
        self._uuid = uuid_from_bumble(proxy.uuid)
        self._characteristics = tuple(
            Characteristic._remote(self, c) for c in proxy.characteristics)
        return self

    uuid = property(lambda self: self._uuid, doc="The service's UUID.")
    characteristics = property(lambda self: self._characteristics,
                               doc="Tuple of the service's Characteristics.")
    remote = property(lambda self: True, doc="Always True: only remote services exist here.")
    secondary = property(lambda self: not self._proxy.primary, doc="True for a secondary service.")
    connection = property(lambda self: self._connection, doc="The Connection it was found on.")

    def __repr__(self) -> str:
        return f"<Service {self._uuid!r}>"


class Characteristic:
    """A remote characteristic: `value` reads/writes over GATT; notifications go to buffers."""

    BROADCAST = 0x01
    INDICATE = 0x02
    NOTIFY = 0x04
    READ = 0x08
    WRITE = 0x10
    WRITE_NO_RESPONSE = 0x20

    def __init__(self, *args, **kwargs) -> None:
        raise TypeError("no constructor: Characteristics come from discover_remote_services()")

    @classmethod
    def add_to_service(cls, service, uuid, **kwargs):
        raise NotImplementedError(_NO_LOCAL)

    @classmethod
    def _remote(cls, service: Service, proxy) -> Characteristic:
        self = cls.__new__(cls)
        self._service = service
        self._proxy = proxy
        self._uuid = uuid_from_bumble(proxy.uuid)
        self._properties = 0
        for bumble_bit, bleio_bit in _PROPERTY_MAP:
            if proxy.properties & bumble_bit:
                self._properties |= bleio_bit
        self._callbacks: list[Callable[[bytes], None]] = []
        self._descriptors = tuple(Descriptor._remote(self, d) for d in proxy.descriptors)
        return self

    uuid = property(lambda self: self._uuid, doc="The characteristic's UUID.")
    properties = property(lambda self: self._properties,
                          doc="Bitmask of BROADCAST, INDICATE, NOTIFY, READ, WRITE, WRITE_NO_RESPONSE.")
    descriptors = property(lambda self: self._descriptors, doc="Tuple of its Descriptors.")
    service = property(lambda self: self._service, doc="The Service it belongs to.")
    max_length = property(lambda self: 512, doc="Largest value the ATT allows (unknown remotely).")

    @property
    def _connection(self) -> Connection:
        return self._service._connection

    @property
    def value(self) -> bytes:
        """Read the value from the peer (a long read if it exceeds one ATT response)."""
        return bytes(self._connection._run(self._proxy.read_value, what="read"))

    @value.setter
    def value(self, data) -> None:
        self._write(bytes(data))

    def _write(self, data: bytes) -> None:
        """Write without response when the characteristic allows it and the value fits in one
        ATT packet, else with response (a long write if needed)."""
        connection = self._connection
        fits = len(data) <= connection.max_packet_length if connection.connected else True
        if self._properties & self.WRITE_NO_RESPONSE and fits:
            with_response = False
        elif self._properties & self.WRITE:
            with_response = True
        elif self._properties & self.WRITE_NO_RESPONSE:
            raise ValueError(f"value of {len(data)} bytes exceeds one write without response "
                             f"({connection.max_packet_length})")
        else:
            with_response = True  # let the peer answer (it will refuse)
        connection._run(lambda: self._proxy.write_value(data, with_response=with_response),
                        what="write")

    def set_cccd(self, *, notify: bool = False, indicate: bool = False) -> None:
        """Write the peer's Client Characteristic Configuration Descriptor: subscribe to
        notifications (preferred when both are asked) or indications, or neither."""
        if notify or indicate:
            self._connection._run(
                lambda: self._proxy.subscribe(self._dispatch, prefer_notify=notify),
                what="subscribe")
        else:
            self._connection._run(
                lambda: self._proxy.unsubscribe(self._dispatch, force=True),
                what="unsubscribe")

    def _dispatch(self, value: bytes) -> None:
        """On the loop's thread: one notification/indication to every registered buffer."""
        for callback in list(self._callbacks):
            callback(bytes(value))

    def _add_notify_callback(self, callback: Callable[[bytes], None]) -> None:
        self._callbacks.append(callback)

    def _remove_notify_callback(self, callback: Callable[[bytes], None]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def __repr__(self) -> str:
        return f"<Characteristic {self._uuid!r} properties=0x{self._properties:02x}>"


class Descriptor:
    """A remote descriptor (e.g. the CCCD or a user description)."""

    def __init__(self, *args, **kwargs) -> None:
        raise TypeError("no constructor: Descriptors come from discover_remote_services()")

    @classmethod
    def add_to_characteristic(cls, characteristic, uuid, **kwargs):
        raise NotImplementedError(_NO_LOCAL)

    @classmethod
    def _remote(cls, characteristic: Characteristic, proxy) -> Descriptor:
        self = cls.__new__(cls)
        self._characteristic = characteristic
        self._proxy = proxy
        self._uuid = uuid_from_bumble(proxy.type)
        return self

    uuid = property(lambda self: self._uuid, doc="The descriptor's UUID.")
    characteristic = property(lambda self: self._characteristic,
                              doc="The Characteristic it belongs to.")

    @property
    def value(self) -> bytes:
        connection = self._characteristic._connection
        return bytes(connection._run(self._proxy.read_value, what="descriptor read"))

    @value.setter
    def value(self, data) -> None:
        data = bytes(data)
        connection = self._characteristic._connection
        connection._run(lambda: self._proxy.write_value(data, with_response=True),
                        what="descriptor write")

    def __repr__(self) -> str:
        return f"<Descriptor {self._uuid!r}>"
