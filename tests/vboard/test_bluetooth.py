"""The virtual board's `bluetooth` module (device/ble/bluetooth.py on vboard/radio.py) against what
MicroPython documents and its esp32 port (NimBLE) does, code run in the real MicroPython Unix
port, a bumble central on the other side. Sources: docs/library/bluetooth.rst,
extmod/modbluetooth.c, extmod/nimble/modbluetooth_nimble.c (v1.27), apache/mynewt-nimble."""

from __future__ import annotations

import ast
import asyncio

import pytest
from app_helpers import Output
from bumble.core import UUID
from bumble.device import Peer
from waiting import wait_until

from retrorun.devtools.vboard.repl import AppDevice

pytestmark = [pytest.mark.bumble, pytest.mark.micropython]

GUEST = r'''
import bluetooth, time
ble = bluetooth.BLE()
assert ble is bluetooth.BLE()  # the singleton
out = []
for call in (lambda: ble.config("mac"), lambda: ble.gap_advertise(100000, b""),
             lambda: ble.gatts_write(1, b"x")):
    try:
        call()
        out.append("no error")
    except OSError as e:
        out.append(e.errno)
out.append(ble.gatts_read(1))
print("OFF", out)
ble.active(True)
print("MAC", ble.config("mac"), ble.config("mtu"), ble.config("gap_name"))
try:
    ble.gap_advertise(100000, bytes(32))
except OSError as e:
    print("LONG", e.errno)
print("TINY", ble.gap_disconnect(7))
events = []
def irq(event, data):
    if event == 3:
        events.append((event, data[1], ble.gatts_read(data[1])))
    else:
        events.append((event, type(data[-1]).__name__ if event in (1, 2) else data[-1]))
ble.irq(irq)
S = bluetooth.UUID("6e400001-b5a3-f393-e0a9-e50e24dcca9e")
A = (bluetooth.UUID(0x2A6E), bluetooth.FLAG_READ | bluetooth.FLAG_WRITE,
     ((bluetooth.UUID(0x2901), bluetooth.FLAG_READ),))
B = (bluetooth.UUID(0x2A6F), bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY)
C = (bluetooth.UUID(0x2A70), bluetooth.FLAG_WRITE)
((a, a_desc, b, c),) = ble.gatts_register_services(((S, (A, B, C)),))
print("HANDLES", a, a_desc, b, c)
ble.gatts_set_buffer(b, 64)
ble.gatts_write(a, b"local value longer than twenty bytes")
ble.gap_advertise(100000, b"\x02\x01\x06\x05\x09test")
while len(events) < 6:
    time.sleep_ms(10)
try:
    ble.gatts_notify(99, b, b"x")
except OSError as e:
    print("NOTCONN", e.errno)
ble.gap_advertise(100000)  # the data of the last call again
ble.gap_advertise(None)  # stop
print("EVENTS", events)
'''


def test_the_bluetooth_module_behaves_as_the_esp32_port(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "main.py").write_text(GUEST)
    out = Output()
    dev = AppDevice(fs, out, bluetooth=True)
    radio = dev.hw.radio
    central = radio.central()
    try:
        assert wait_until(lambda: radio.advertising, 30), bytes(out.data)[-800:]

        async def write():
            connection = await central.connect(radio.address, timeout=5)
            peer = Peer(connection)
            await peer.request_mtu(100)
            await peer.discover_services()
            for service in peer.services:
                await service.discover_characteristics()
            a = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A6E))[0]
            b = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A6F))[0]
            c = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A70))[0]
            before = await a.read_value()
            await a.write_value(bytes(range(30)), with_response=True)  # grown to 36 bytes
            await b.write_value(bytes(range(40)), with_response=True)  # set_buffer(b, 64)
            await c.write_value(bytes(range(30)), with_response=True)  # the default 20 bytes
            await asyncio.sleep(0.3)
            await connection.disconnect()
            return before, a.handle, b.handle, c.handle

        before, a_handle, b_handle, c_handle = radio.run(write(), 20)
        assert wait_until(lambda: b"\n" in bytes(out.data).partition(b"EVENTS")[2], 20), \
            bytes(out.data)[-800:]  # the whole line
        text = bytes(out.data).decode()
        log = list(radio.log)
    finally:
        dev.close()
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in text.splitlines()
             if line.split(" ", 1)[0] in ("OFF", "MAC", "LONG", "TINY", "HANDLES", "NOTCONN",
                                          "EVENTS")}
    assert lines["OFF"] == "[19, 19, 19, b'']"  # ENODEV while off; gatts_read gives b''
    mac = dev.hw.mac[:5] + bytes(((dev.hw.mac[5] + 2) & 0xFF,))  # the ESP32's BT MAC
    assert lines["MAC"] == f"(0, {mac!r}) 256 b'MPY ESP32'"
    assert lines["LONG"] == "22"  # more than 31 bytes of advertising data
    assert lines["TINY"] == "False"  # not connected
    # NimBLE's layout: GAP 1-5, GATT 6-13; service 14; A decl 15, value 16, its descriptor
    # 17; B decl 18, value 19, CCCD 20; C decl 21, value 22
    assert lines["HANDLES"] == "16 17 19 22"
    assert (a_handle, b_handle, c_handle) == (16, 19, 22)  # what the central sees over ATT
    assert lines["NOTCONN"] == "107"  # ENOTCONN
    assert before == b"local value longer than twenty bytes"  # a local write grows the buffer
    events = ast.literal_eval(lines["EVENTS"])  # a MicroPython repr of ints, str and bytes
    assert events[0] == (1, "memoryview")  # _IRQ_CENTRAL_CONNECT (conn, addr_type, addr)
    assert events[1] == (21, 100)  # _IRQ_MTU_EXCHANGED
    assert events[2] == (3, 16, bytes(range(30)))  # _IRQ_GATTS_WRITE: it fits the grown buffer
    assert events[3] == (3, 19, bytes(range(40)))
    assert events[4] == (3, 22, bytes(range(20)))  # cut to MP_BLUETOOTH_DEFAULT_ATTR_LEN
    assert events[5] == (2, "memoryview")  # _IRQ_CENTRAL_DISCONNECT
    assert len(events) == 6
    # a connection stops advertising (NimBLE); gap_advertise(None) stops it
    assert log == ["on", "advertise", "connect 1", "disconnect 1", "advertise",
                         "advertise off"]
    assert radio.adv_data == b"\x02\x01\x06\x05\x09test"  # None kept the data
