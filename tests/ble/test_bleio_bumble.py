"""The bumble `_bleio` under unmodified adafruit_ble, against a plain-bumble peripheral.

Two bumble devices share one in-process LocalLink: the peripheral here is bumble's own GATT
server (Battery 0x180F read+notify, and a vendor service with a write-without-response+notify
characteristic and a write+notify one), advertising its name and both service UUIDs. The
central is `bleio_bumble.install(link)` driven only through adafruit_ble. What the peripheral's
bumble server received, and its own view of the link (ATT MTU, connection), is the oracle.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from adafruit_ble import BLERadio
from adafruit_ble.advertising.standard import ProvideServicesAdvertisement
from adafruit_ble.characteristics import Characteristic, ComplexCharacteristic
from adafruit_ble.characteristics.stream import StreamOut
from adafruit_ble.services import Service
from adafruit_ble.services.standard import BatteryService
from adafruit_ble.uuid import VendorUUID
from bumble import gatt, hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from retrorun.link.ble import bleio_bumble, bumble_loop

pytestmark = pytest.mark.bumble

NAME = "rr-1"  # flags + name + 16-bit list + 128-bit list = 31 bytes, one legacy advertisement
SERVICE = "7e570001-4a52-4f2e-9a3b-8c1d2e3f4a5b"
PACKETS = "7e570002-4a52-4f2e-9a3b-8c1d2e3f4a5b"  # write without response + notify
STREAM = "7e570003-4a52-4f2e-9a3b-8c1d2e3f4a5b"  # write + notify
TRAP = "7e570004-4a52-4f2e-9a3b-8c1d2e3f4a5b"  # read: the peripheral drops the link instead
LEVEL = 87


def _wait(condition, timeout: float = 3.0, what: str = "condition") -> None:
    """Poll condition() until true, failing after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _ad(kind: int, payload: bytes) -> bytes:
    return bytes([len(payload) + 1, kind]) + payload


class Peripheral:
    """bumble's own GATT server and advertiser; records what it is written, on its thread."""

    def __init__(self, link: LocalLink) -> None:
        self.loop = bumble_loop.shared()
        self.link = link
        self.writes: dict[str, list[bytes]] = {PACKETS: [], STREAM: []}
        self.lock = threading.Lock()
        self.connection = None
        self.link_up = False
        self.loop.run(self._start())

    async def _start(self) -> None:
        controller = Controller("peripheral", link=self.link)
        self.device = Device(name=NAME, address=hci.Address("F1:F2:F3:F4:F5:C6"),
                             host=Host(controller, AsyncPipeSink(controller)))
        self.level = gatt.Characteristic(
            "2A19", gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE, bytes([LEVEL]))
        self.packets = self._writable(PACKETS, gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE)
        self.stream = self._writable(STREAM, gatt.Characteristic.Properties.WRITE)

        async def drop_the_link(connection) -> bytes:
            await connection.disconnect()
            return b"never seen"

        trap = gatt.Characteristic(TRAP, gatt.Characteristic.Properties.READ,
                                   gatt.Characteristic.READABLE,
                                   gatt.CharacteristicValue(read=drop_the_link))
        self.device.add_services([gatt.Service("180F", [self.level]),
                                  gatt.Service(SERVICE, [self.packets, self.stream, trap])])
        self.device.on("connection", self._on_connection)
        await self.device.power_on()
        data = (_ad(0x01, b"\x06") + _ad(0x09, NAME.encode())
                + _ad(0x03, (0x180F).to_bytes(2, "little"))
                + _ad(0x07, bytes.fromhex(SERVICE.replace("-", ""))[::-1]))
        assert len(data) <= 31
        await self.device.start_advertising(advertising_data=data, auto_restart=True,
                                            advertising_interval_min=20,
                                            advertising_interval_max=20)

    def _writable(self, uuid: str, write_kind) -> gatt.Characteristic:
        def on_write(_connection, value: bytes) -> None:
            with self.lock:
                self.writes[uuid].append(bytes(value))

        return gatt.Characteristic(
            uuid, write_kind | gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.WRITEABLE, gatt.CharacteristicValue(write=on_write))

    def _on_connection(self, connection) -> None:
        self.connection = connection
        self.link_up = True

        def on_disconnection(_reason) -> None:
            self.link_up = False

        connection.on("disconnection", on_disconnection)

    def received(self, uuid: str) -> list[bytes]:
        with self.lock:
            return list(self.writes[uuid])

    def notify(self, characteristic: gatt.Characteristic, value: bytes) -> None:
        self.loop.run(self.device.notify_subscribers(characteristic, value))

    def disconnect(self) -> None:
        self.loop.run(self.connection.disconnect())

    def close(self) -> None:
        async def stop():
            if self.link_up:
                await self.connection.disconnect()
            await self.device.stop_advertising()
            await self.device.power_off()
        self.loop.run(stop())


class PacketField(ComplexCharacteristic):
    """A characteristic bound as `_bleio.PacketBuffer`, as adafruit_ble_file_transfer does."""

    def bind(self, service):
        bound = super().bind(service)
        return sys.modules["_bleio"].PacketBuffer(bound, buffer_size=4, max_packet_size=512)


class VendorService(Service):
    uuid = VendorUUID(SERVICE)
    packets = PacketField(uuid=VendorUUID(PACKETS),
                          properties=Characteristic.WRITE_NO_RESPONSE | Characteristic.NOTIFY)
    stream = StreamOut(uuid=VendorUUID(STREAM), timeout=0.5, buffer_size=1024,
                       properties=Characteristic.WRITE | Characteristic.NOTIFY)
    raw_stream = Characteristic(uuid=VendorUUID(STREAM),
                                properties=Characteristic.WRITE | Characteristic.NOTIFY)
    trap = Characteristic(uuid=VendorUUID(TRAP), properties=Characteristic.READ)


@pytest.fixture
def link():
    return LocalLink()


@pytest.fixture
def peripheral(link):
    peripheral = Peripheral(link)
    yield peripheral
    peripheral.close()


@pytest.fixture
def radio(link, peripheral):
    previous = sys.modules.get("_bleio")
    bleio_bumble.install(link)
    yield BLERadio()
    bleio_bumble.uninstall()
    assert sys.modules.get("_bleio") is previous


def _find(radio: BLERadio, timeout: float = 3.0) -> ProvideServicesAdvertisement:
    for advertisement in radio.start_scan(ProvideServicesAdvertisement, timeout=timeout):
        if advertisement.complete_name == NAME:
            radio.stop_scan()
            return advertisement
    raise AssertionError(f"{NAME} not found by the scan")


@pytest.fixture
def connection(radio):
    connection = radio.connect(_find(radio), timeout=3.0)
    yield connection
    if connection.connected:
        connection.disconnect()


def test_scan_finds_the_peripheral_with_its_name_and_services(radio, peripheral):
    advertisement = _find(radio)
    assert BatteryService in advertisement.services
    assert VendorService in advertisement.services
    assert advertisement.connectable
    assert advertisement.address.address_bytes == bytes(peripheral.device.random_address.address_bytes)


def test_scan_ends_at_its_timeout(radio):
    started = time.monotonic()
    names = {a.complete_name for a in radio.start_scan(ProvideServicesAdvertisement, timeout=0.3)}
    assert NAME in names
    assert 0.25 < time.monotonic() - started < 2.0


def test_connect_reads_the_battery_level_and_exchanges_the_mtu(radio, connection, peripheral):
    assert connection.connected and radio.connected
    assert connection[BatteryService].level == LEVEL
    _wait(lambda: peripheral.connection is not None, what="the peripheral's connection")
    # bumble on the other end agrees on the ATT MTU the central asked for
    assert peripheral.connection.att_mtu == bleio_bumble.DEFAULT_MTU
    assert connection._bleio_connection.max_packet_length == bleio_bumble.DEFAULT_MTU - 3


def test_packet_buffer_gives_each_notification_as_one_packet(connection, peripheral):
    packets = connection[VendorService].packets
    assert packets.outgoing_packet_length == peripheral.connection.att_mtu - 3 == 244
    assert packets.incoming_packet_length == 244
    sent = [bytes(range(100)), b"\x01", bytes(i % 251 for i in range(244))]
    for value in sent:
        peripheral.notify(peripheral.packets, value)
    buf = bytearray(512)
    got = []
    deadline = time.monotonic() + 3.0
    while len(got) < len(sent) and time.monotonic() < deadline:
        n = packets.readinto(buf)
        if n:
            got.append(bytes(buf[:n]))
    assert got == sent
    assert packets.readinto(buf) == 0


def test_packet_buffer_keeps_a_packet_too_long_for_the_buffer(connection, peripheral):
    packets = connection[VendorService].packets
    peripheral.notify(peripheral.packets, b"x" * 40)
    small = bytearray(20)
    _wait(lambda: packets.wait_for_packet(0.1), what="the notification")
    with pytest.raises(ValueError):
        packets.readinto(small)
    big = bytearray(64)
    assert packets.readinto(big) == 40 and big[:40] == b"x" * 40


def test_packet_buffer_writes_arrive_byte_exact(connection, peripheral):
    packets = connection[VendorService].packets
    payloads = [bytes([i]) * (10 + 60 * i) for i in range(4)] + [bytes(range(244))]
    for payload in payloads[:-1]:
        assert packets.write(payload) == len(payload)
    assert packets.write(payloads[-1][4:], header=payloads[-1][:4]) == 244
    _wait(lambda: len(peripheral.received(PACKETS)) == len(payloads), what="the writes")
    assert peripheral.received(PACKETS) == payloads
    with pytest.raises(ValueError):
        packets.write(bytes(245))


def test_characteristic_buffer_streams_notifications(connection, peripheral):
    service = connection[VendorService]
    stream = service.stream  # adafruit_ble's StreamOut: set_cccd, then a CharacteristicBuffer
    peripheral.notify(peripheral.stream, b"hello\nwor")
    peripheral.notify(peripheral.stream, b"ld\n" + bytes(range(200)))
    assert stream.readline() == b"hello\n"
    assert stream.readline() == b"world\n"
    assert stream.read(200) == bytes(range(200))
    assert stream.in_waiting == 0
    started = time.monotonic()
    assert stream.read(1) is None  # nothing more: None after the 0.5 s timeout
    assert time.monotonic() - started >= 0.45


def test_value_write_uses_write_with_response(connection, peripheral):
    service = connection[VendorService]
    service.raw_stream = b"\x00abc" * 100  # 400 bytes: longer than one ATT write, a long write
    assert peripheral.received(STREAM) == [b"\x00abc" * 100]  # there when the call returned


def test_link_loss_marks_disconnected_and_later_calls_raise(connection, peripheral):
    import _bleio

    battery = connection[BatteryService]
    packets = connection[VendorService].packets
    assert battery.level == LEVEL
    peripheral.disconnect()
    _wait(lambda: not connection.connected, what="the central to see the link loss")
    with pytest.raises(_bleio.ConnectionError):
        battery.level  # noqa: B018 - a GATT read
    with pytest.raises(_bleio.ConnectionError):
        packets.write(b"late")
    with pytest.raises(_bleio.ConnectionError):
        packets.readinto(bytearray(20))
    assert not BLERadio().connected


def test_link_lost_during_a_read_raises_connection_error(connection):
    import _bleio

    with pytest.raises(_bleio.ConnectionError):
        connection[VendorService].trap  # noqa: B018 - a GATT read the peer never answers
    assert not connection.connected


def test_reconnect_after_a_link_loss(radio, connection, peripheral):
    peripheral.disconnect()
    _wait(lambda: not connection.connected, what="the link loss")
    again = radio.connect(_find(radio), timeout=3.0)  # bumble re-advertises (auto_restart)
    assert again.connected and again is not connection
    assert again[BatteryService].level == LEVEL
    assert radio.connections == (again,)
    assert again._bleio_connection.max_packet_length == bleio_bumble.DEFAULT_MTU - 3


def test_project_shim_leaves_this_packet_buffer_alone(connection, peripheral):
    """retrorun's shim fixes blinka's PacketBuffer; this one already has CircuitPython's
    semantics, so the shim's install() leaves it in place (the transport's stall timeout is its
    own deadline over readinto() returning 0)."""
    import _bleio

    from retrorun.link.ble import shim

    shim.install()
    assert _bleio.PacketBuffer is bleio_bumble.namespace.PacketBuffer
    assert _bleio.PacketBuffer is not shim.CompatPacketBuffer
    packets = connection[VendorService].packets
    peripheral.notify(peripheral.packets, b"z" * 100)
    buf = bytearray(512)
    assert packets.readinto(buf) == 100 and buf[:100] == b"z" * 100
    assert packets.write(b"q" * 244) == 244
    _wait(lambda: peripheral.received(PACKETS) == [b"q" * 244], what="the write")


def test_local_services_are_refused_clearly(radio):
    with pytest.raises(NotImplementedError, match="peripheral"):
        BatteryService()


def test_install_rebinds_adafruit_ble_and_uninstall_restores_it(link, peripheral):
    import adafruit_ble.attributes

    previous = sys.modules.get("_bleio")
    previous_open = adafruit_ble.attributes.Attribute.OPEN
    bleio_bumble.install(link)
    try:
        assert sys.modules["_bleio"] is bleio_bumble.namespace
        assert adafruit_ble._bleio is bleio_bumble.namespace
        assert adafruit_ble.attributes.Attribute.OPEN == 0x11
        # UUIDs adafruit_ble made at import (on the previous _bleio) were converted
        assert isinstance(BatteryService.uuid.bleio_uuid, bleio_bumble.namespace.UUID)
        assert isinstance(VendorService.uuid.bleio_uuid, bleio_bumble.namespace.UUID)
        assert BLERadio().name == "retrorun"
        with pytest.raises(RuntimeError, match="already installed"):
            bleio_bumble.install(link)
    finally:
        bleio_bumble.uninstall()
    assert sys.modules.get("_bleio") is previous
    if previous is not None:
        assert adafruit_ble._bleio is previous
        assert adafruit_ble.attributes.Attribute.OPEN is previous_open
        assert isinstance(BatteryService.uuid.bleio_uuid, previous.UUID)


def test_install_from_a_transport_spec(link, peripheral):
    """As the CLI will: a spec string, here HCI over TCP to a bumble controller on the link."""
    loop = bumble_loop.shared()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))

    async def serve():
        server = await open_tcp_server_transport_with_socket(sock)
        return server, Controller("tcp", host_source=server.source, host_sink=server.sink,
                                  link=link)

    server, controller = loop.run(serve())
    try:
        bleio_bumble.install(f"tcp-client:127.0.0.1:{sock.getsockname()[1]}")
        radio = BLERadio()
        connection = radio.connect(_find(radio), timeout=3.0)
        assert connection[BatteryService].level == LEVEL
        assert connection._bleio_connection.max_packet_length == bleio_bumble.DEFAULT_MTU - 3
    finally:
        bleio_bumble.uninstall()
        loop.run(server.close())
        link.remove_controller(controller)


def test_losing_the_controller_is_a_link_loss(link, peripheral):
    """The dongle unplugged (here: the TCP connection to the controller closed): the
    connection is lost, later calls raise ConnectionError, and uninstall still works."""
    loop = bumble_loop.shared()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))

    async def serve():
        server = await open_tcp_server_transport_with_socket(sock)
        return server, Controller("tcp", host_source=server.source, host_sink=server.sink,
                                  link=link)

    server, _controller = loop.run(serve())
    previous = sys.modules.get("_bleio")
    bleio_bumble.install(f"tcp-client:127.0.0.1:{sock.getsockname()[1]}")
    try:
        radio = BLERadio()
        connection = radio.connect(_find(radio), timeout=3.0)
        battery = connection[BatteryService]
        loop.call_soon(server.sink.transport.close)  # the accepted HCI connection
        _wait(lambda: not connection.connected, what="the central to see the loss")
        with pytest.raises(bleio_bumble.namespace.ConnectionError):
            battery.level  # noqa: B018 - a GATT read
        assert radio.connections == ()
    finally:
        bleio_bumble.uninstall()
        loop.run(server.close())
        # the orphaned controller stays on this test's link: the peripheral's side of the
        # link still ends through it
    assert sys.modules.get("_bleio") is previous and bleio_bumble.installed() is None


def test_install_refuses_an_unopenable_transport():
    before = sys.modules.get("_bleio")
    with pytest.raises(bleio_bumble.namespace.BluetoothError, match="could not open"):
        bleio_bumble.install("tcp-client:127.0.0.1:1")
    assert sys.modules.get("_bleio") is before and bleio_bumble.installed() is None


def test_install_before_adafruit_ble_is_imported():
    """In a fresh interpreter: install first, then adafruit_ble imports the bumble _bleio."""
    script = textwrap.dedent("""
        import sys
        from bumble.link import LocalLink
        from retrorun.link.ble import bleio_bumble
        assert "_bleio" not in sys.modules and "adafruit_ble" not in sys.modules
        bleio_bumble.install(LocalLink(), name="fresh")
        from adafruit_ble import BLERadio
        radio = BLERadio()
        assert radio.name == "fresh" and not radio.connected
        found = list(radio.start_scan(timeout=0.2))
        bleio_bumble.uninstall()
        assert "_bleio" not in sys.modules
        print("ok", len(found))
    """)
    host = str(Path(bleio_bumble.__file__).parents[4])  # the retrorun under test, not another
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([host, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "0"]
