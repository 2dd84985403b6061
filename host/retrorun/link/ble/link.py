"""An in-memory GATT link for fault injection: the real host libraries on one side, the device
cores on the other.

No radio (the end-to-end tests run a real BLE stack: bumble, tests marked `bumble`). The host
side is `_bleio`-level: `LinkService` / `LinkCharacteristic` subclass blinka's `_bleio.Service` /
`_bleio.Characteristic`, so the control service class binds to them through the real
`adafruit_ble` descriptors and the compatibility shim's `PacketBuffer`. The device side is
`retrofw.ble.gatt.Peripheral` (device_cores.py: in this process or in real MicroPython).

Realism: one ATT packet per write or notification, at most `payload` bytes (ATT_MTU - 3,
20..244); the device only notifies a characteristic the host subscribed to; `drop` loses chosen
packets in either direction (what a full notification queue or a capture queue overflow does on
a real stack); `disconnect_after` cuts the link after N device packets, mid-transfer. Every
packet is recorded in `trace` (direction, characteristic, length), from which
`airtime.sync_time()` computes the time a transfer takes at given connection settings.
"""

from __future__ import annotations

from collections.abc import Callable

import _bleio

from retrofw import wire_ble
from retrorun.link.ble import shim

H2D = "h2d"  # host to device (ATT write without response)
D2H = "d2h"  # device to host (notification)
CHAR_CONTROL = 1  # the only characteristic the link carries: control


# -- the _bleio-level host side -----------------------------------------------------------------
class LinkCharacteristic(_bleio.Characteristic):
    """A remote characteristic whose value and notifications go through the in-memory link."""

    def __init__(self, link: GattLink, key: int, uuid: str, properties: int, service):
        super().__init__(uuid=_bleio.UUID(uuid), properties=properties)
        self._link = link
        self._key = key
        self._service = service
        self._generation = link.generation

    @property
    def value(self) -> bytes:
        return self._link.read(self._key, self._generation)

    @value.setter
    def value(self, data) -> None:
        self._link.write(self._key, bytes(data), self._generation)

    def set_cccd(self, *, notify: bool = False, indicate: bool = False) -> None:
        self._link.subscribe(self._key, self if notify else None)


class LinkConnection:
    """What adafruit_ble's BLEConnection offers the transport: `conn[ServiceClass]`, state."""

    def __init__(self, link: GattLink):
        self._link = link
        self.generation = link.generation
        self._bound: dict[type, object] = {}

    @property
    def connected(self) -> bool:
        return self._link.connected and self._link.generation == self.generation

    @property
    def max_packet_length(self) -> int:
        return self._link.payload

    def disconnect(self) -> None:
        if self.connected:
            self._link.disconnect()

    def __getitem__(self, service_class):
        if service_class not in self._bound:
            uuid = service_class.uuid.bleio_uuid
            bleio_service = self._link.remote_service(uuid, self)
            if bleio_service is None:
                raise KeyError(f"no service {uuid} on the device")
            self._bound[service_class] = service_class(service=bleio_service)
        return self._bound[service_class]

    def __contains__(self, service_class) -> bool:
        return self._link.remote_service(service_class.uuid.bleio_uuid, self) is not None


class LinkService(_bleio.Service):
    def __init__(self, uuid, connection: LinkConnection):
        super().__init__(uuid, remote=True)
        self._connection = connection

    def set_characteristics(self, characteristics) -> None:
        self._characteristics = tuple(characteristics)


class GattLink:
    """The radio between one host and one device. See the module docstring."""

    def __init__(self, device, *, payload: int = wire_ble.BLE_PAYLOAD_MIN,
                 drop: Callable[[str, int, bytes], bool] | None = None,
                 disconnect_after: int | None = None):
        if not wire_ble.BLE_PAYLOAD_MIN <= payload <= wire_ble.BLE_PAYLOAD_MAX:
            raise ValueError(f"payload must be {wire_ble.BLE_PAYLOAD_MIN}..{wire_ble.BLE_PAYLOAD_MAX}")
        shim.install()
        self.device = device
        self.payload = payload
        self.drop = drop
        self.disconnect_after = disconnect_after
        self.connected = False
        self.generation = 0
        self.subscribers: dict[int, LinkCharacteristic] = {}
        self.trace: list[tuple[str, int, int]] = []
        self.dropped = {H2D: 0, D2H: 0}
        self.counts = {H2D: 0, D2H: 0}
        self.connections = 0

    # connection life
    def connect(self) -> LinkConnection:
        if self.connected:
            self.disconnect()
        self.generation += 1
        self.connected = True
        self.connections += 1
        self.subscribers = {}
        self._deliver(self.device.connect(self.payload))
        return LinkConnection(self)

    def disconnect(self) -> None:
        if self.connected:
            self.connected = False
            self.subscribers = {}
            self.device.disconnect()

    def close(self) -> None:
        self.disconnect()
        self.device.close()

    def remote_service(self, uuid, connection: LinkConnection):
        """The device's service with this `_bleio.UUID`, as seen over `connection` (or None)."""
        notify = _bleio.Characteristic.NOTIFY
        write_nr = _bleio.Characteristic.WRITE_NO_RESPONSE
        if uuid == _bleio.UUID(wire_ble.UUID_RR_SERVICE):
            service = LinkService(uuid, connection)
            service.set_characteristics([
                LinkCharacteristic(self, CHAR_CONTROL, wire_ble.UUID_RR_CONTROL, write_nr | notify,
                                   service),
            ])
            return service
        return None

    # traffic
    def _check(self, generation: int) -> None:
        if not self.connected or generation != self.generation:
            raise _bleio.ConnectionError("not connected")

    def subscribe(self, key: int, characteristic: LinkCharacteristic | None) -> None:
        if characteristic is None:
            self.subscribers.pop(key, None)
        else:
            self.subscribers[key] = characteristic

    def read(self, key: int, generation: int) -> bytes:
        self._check(generation)
        return b""

    def write(self, key: int, data: bytes, generation: int) -> None:
        self._check(generation)
        if len(data) > self.payload:
            raise ValueError(f"ATT write of {len(data)} bytes > payload {self.payload}")
        index = self.counts[H2D]
        self.counts[H2D] += 1
        self.trace.append((H2D, key, len(data)))
        if self.drop is not None and self.drop(H2D, index, data):
            self.dropped[H2D] += 1
            return
        self._deliver(self.device.write(key, data))

    def _deliver(self, packets: list[tuple[int, bytes]]) -> None:
        for key, data in packets:
            if not self.connected:
                return
            if len(data) > self.payload:
                raise AssertionError(f"device notified {len(data)} bytes > payload {self.payload}")
            index = self.counts[D2H]
            self.counts[D2H] += 1
            self.trace.append((D2H, key, len(data)))
            if self.disconnect_after is not None and index + 1 >= self.disconnect_after:
                self.disconnect_after = None
                self.disconnect()
                return
            if self.drop is not None and self.drop(D2H, index, data):
                self.dropped[D2H] += 1
                continue
            subscriber = self.subscribers.get(key)
            if subscriber is not None:
                subscriber._notify_callback(None, data)

    def stats(self) -> dict:
        """Packets and ATT payload bytes per direction (what the protocol put on the air)."""
        out = {}
        for direction in (H2D, D2H):
            sizes = [n for d, _, n in self.trace if d == direction]
            out[direction] = {"packets": len(sizes), "bytes": sum(sizes)}
        out["turns"] = len(turns(self.trace))
        return out


# -- the trace ----------------------------------------------------------------------------------
def turns(trace) -> list[tuple[str, list[int]]]:
    """Group a trace into turns: runs of packets in one direction (a turn waits for the last)."""
    groups: list[tuple[str, list[int]]] = []
    for direction, _, length in trace:
        if groups and groups[-1][0] == direction:
            groups[-1][1].append(length)
        else:
            groups.append((direction, [length]))
    return groups
