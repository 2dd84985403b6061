"""The virtual board radio's GATT database: MicroPython's `gatts_register_services` built as a
real bumble GATT server, with the attribute handles NimBLE gives, and the values the firmware
reads and writes (`gatts_read`/`gatts_write`, the port's "gatts_db").

Layout (NimBLE, apache/mynewt-nimble `ble_gatts.c`, `ble_svc_gap.c`, `ble_svc_gatt.c`, as
MicroPython's modbluetooth_nimble.c registers them: the GAP and GATT services first, then the
application's): the GAP service 0x1800 (Device Name 0x2A00, Appearance 0x2A01, both read), the
GATT service 0x1801 (Service Changed 0x2A05 indicate + its CCCD, Server Supported Features
0x2B3A read, Client Supported Features 0x2B29 read/write), then each registered service: its
declaration, and per characteristic its declaration, its value (the handle
`gatts_register_services` returns), the CCCD when it notifies or indicates, then its
descriptors (their handles follow the characteristic's in the returned tuple). A build of
ESP-IDF may leave an optional GAP/GATT characteristic in or out: firmware never hard-codes a
handle.

Values (modbluetooth.c `mp_bluetooth_gatts_db_*`): every characteristic and descriptor value
starts with a 20-byte buffer (MP_BLUETOOTH_DEFAULT_ATTR_LEN); a remote write longer than the
buffer is cut to it (the ATT write still succeeds); a local `gatts_write` grows the buffer to
fit; `gatts_set_buffer(h, n, append)` makes it n bytes and empties it; in append mode remote
writes append and `gatts_read` empties it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bumble import att, gatt

DEFAULT_ATTR_LEN = 20  # MP_BLUETOOTH_DEFAULT_ATTR_LEN (extmod/modbluetooth.h)
# MicroPython's FLAG_* (docs/library/bluetooth.rst) match NimBLE's BLE_GATT_CHR_F_* and the
# characteristic property bits of the Core Specification (Vol 3 Part G 3.3.1.1) in the low byte
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020
_PROPERTY_BITS = 0x00FF
_GATT_SERVER_SUPPORTED_FEATURES = 0x2B3A
_GATT_CLIENT_SUPPORTED_FEATURES = 0x2B29


@dataclass
class Value:
    """One value in the port's gatts_db."""

    data: bytearray = field(default_factory=bytearray)
    alloc: int = DEFAULT_ATTR_LEN
    append: bool = False

    def remote_write(self, value: bytes) -> None:
        offset = len(self.data) if self.append else 0
        keep = max(0, min(self.alloc, offset + len(value)) - offset)
        self.data[offset:] = value[:keep]

    def local_write(self, value: bytes) -> None:
        self.alloc = max(self.alloc, len(value))
        self.data[:] = value

    def read(self) -> bytes:
        out = bytes(self.data)
        if self.append:
            self.data.clear()
        return out


def parse_uuid(text: str) -> gatt.UUID:
    """A UUID as the device module sends it: its bytes little-endian, in hex."""
    return gatt.UUID.from_bytes(bytes.fromhex(text))


def parse_services(text: str) -> list[tuple[gatt.UUID, list[tuple[gatt.UUID, int, list]]]]:
    """`uuid=chr_uuid:flags/dsc_uuid:flags,...;...` (device/ble/bluetooth.py) -> a definition."""
    out = []
    for service in text.split(";"):
        uuid, _, chars = service.partition("=")
        parsed = []
        for ch in filter(None, chars.split(",")):
            head, *descs = ch.split("/")
            cu, cf = head.split(":")
            parsed.append((parse_uuid(cu), int(cf),
                           [(parse_uuid(d.split(":")[0]), int(d.split(":")[1])) for d in descs]))
        out.append((parse_uuid(uuid), parsed))
    return out


class Database:
    """The registered services: bumble `gatt.Service` objects and the values behind them.

    `on_write(connection, handle, value)` is called (on the bumble loop) for every remote write
    of a registered value; the radio decides when the value lands (see radio.py).
    """

    def __init__(self, on_write) -> None:
        self.lock = threading.Lock()
        self.values: dict[int, Value] = {}
        self.characteristics: dict[int, gatt.Characteristic] = {}  # value handle -> chr
        self.flags: dict[int, int] = {}
        self.gap_name = b"MPY ESP32"  # ports/esp32/boards/sdkconfig.ble
        self._on_write = on_write
        self._refs: dict[int, list[int]] = {}  # id(attribute) -> its handle, once numbered

    def _value(self, handle_ref: list[int]) -> gatt.CharacteristicValue:
        def read(_connection):
            with self.lock:
                value = self.values.get(handle_ref[0])
                return value.read() if value is not None else b""

        def write(connection, data):
            self._on_write(connection, handle_ref[0], bytes(data))

        return gatt.CharacteristicValue(read=read, write=write)

    def default_services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        name = gatt.Characteristic(gatt.GATT_DEVICE_NAME_CHARACTERISTIC, props.READ,
                                   gatt.Characteristic.READABLE,
                                   gatt.CharacteristicValue(read=lambda _c: self.gap_name))
        appearance = gatt.Characteristic(gatt.GATT_APPEARANCE_CHARACTERISTIC, props.READ,
                                         gatt.Characteristic.READABLE, b"\x00\x00")
        changed = gatt.Characteristic(gatt.GATT_SERVICE_CHANGED_CHARACTERISTIC,
                                      props.INDICATE, gatt.Characteristic.READABLE,
                                      b"\x00\x00\x00\x00")
        server_features = gatt.Characteristic(gatt.UUID.from_16_bits(
            _GATT_SERVER_SUPPORTED_FEATURES), props.READ, gatt.Characteristic.READABLE, b"\x00")
        client_features = gatt.Characteristic(
            gatt.UUID.from_16_bits(_GATT_CLIENT_SUPPORTED_FEATURES), props.READ | props.WRITE,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE, b"\x00")
        return [gatt.Service(gatt.GATT_GENERIC_ACCESS_SERVICE, [name, appearance]),
                gatt.Service(gatt.GATT_GENERIC_ATTRIBUTE_SERVICE,
                             [changed, server_features, client_features])]

    def build(self, server, definition) -> list[list[int]]:
        """Replace the server's attributes with the GAP and GATT services and `definition`;
        returns the value handles per service (characteristics and their descriptors, in the
        order defined)."""
        services = self.default_services()
        per_service: list[list[tuple[gatt.Attribute, int, bool]]] = []
        for uuid, chars in definition:
            characteristics = []
            attrs: list[tuple[gatt.Attribute, int, bool]] = []  # (attribute, flags, is chr)
            for cu, cf, descs in chars:
                ref = [0]
                permissions = (gatt.Characteristic.READABLE if cf & FLAG_READ else 0) | \
                    (gatt.Characteristic.WRITEABLE
                     if cf & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE) else 0)
                characteristic = gatt.Characteristic(cu, cf & _PROPERTY_BITS, permissions,
                                                     self._value(ref))
                descriptors = []
                if cf & (FLAG_NOTIFY | FLAG_INDICATE):  # NimBLE puts the CCCD first
                    descriptors.append(gatt.Descriptor(
                        gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
                        att.Attribute.READABLE | att.Attribute.WRITEABLE,
                        server.make_descriptor_value(characteristic)))
                attrs.append((characteristic, cf, True))
                self._refs[id(characteristic)] = ref
                for du, df in descs:
                    dref = [0]
                    descriptor = gatt.Descriptor(
                        du, (att.Attribute.READABLE if df & FLAG_READ else 0)
                        | (att.Attribute.WRITEABLE
                           if df & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE) else 0),
                        self._value(dref))
                    descriptors.append(descriptor)
                    attrs.append((descriptor, df, False))
                    self._refs[id(descriptor)] = dref
                characteristic.descriptors = descriptors
                characteristics.append(characteristic)
            services.append(gatt.Service(uuid, characteristics))
            per_service.append(attrs)
        server.attributes = []
        server.attributes_by_handle = {}
        server.services = []
        server.add_services(services)
        server.attributes_by_handle = {a.handle: a for a in server.attributes}
        values: dict[int, Value] = {}
        flags: dict[int, int] = {}
        chars_by_handle: dict[int, gatt.Characteristic] = {}
        handles = []
        for attrs in per_service:
            out = []
            for attribute, fl, is_chr in attrs:
                self._refs.pop(id(attribute))[0] = attribute.handle
                values[attribute.handle] = Value()
                if is_chr:
                    flags[attribute.handle] = fl
                    chars_by_handle[attribute.handle] = attribute
                out.append(attribute.handle)
            handles.append(out)
        with self.lock:
            self.values = values
            self.flags = flags
            self.characteristics = chars_by_handle
        return handles

    def clear(self, server) -> None:
        server.attributes = []
        server.attributes_by_handle = {}
        server.services = []
        with self.lock:
            self.values = {}
            self.flags = {}
            self.characteristics = {}
