"""The aioble wiring (gatt.GattServer) against stand-ins for aioble and bluetooth, the live
characteristic, and pairing over USB (the REPL code run in real MicroPython)."""

from __future__ import annotations

import asyncio
import importlib
import struct
import sys
import types

import pytest
from ble_support import SECRET

from retrofw import wire, wire_ble
from retrofw.ble import control, pairing, rsc

pytestmark = pytest.mark.ble


class FakeCharacteristic:
    def __init__(self, service, uuid, read=False, write=False, write_no_response=False,
                 notify=False, indicate=False, initial=None, capture=False, **kw):
        service.characteristics.append(self)
        self.uuid = uuid
        self.props = {"read": read, "write": write, "write_no_response": write_no_response,
                      "notify": notify, "capture": capture}
        self.value = initial
        self.max_len = kw.get("max_len")
        self.sent = []
        self.busy = False
        self.writes: asyncio.Queue | None = None

    def notify(self, connection, data=None):
        if self.busy:
            raise OSError(12, "ENOMEM")
        self.sent.append((connection, bytes(data)))

    def write(self, data, send_update=False):
        self.value = bytes(data)

    async def written(self, timeout_ms=None):
        assert self.writes is not None
        return await self.writes.get()


class FakeService:
    def __init__(self, uuid):
        self.uuid = uuid
        self.characteristics = []


class FakeConnection:
    def __init__(self):
        self.mtu = None
        self.up = True

    async def exchange_mtu(self, mtu):
        self.mtu = mtu

    def is_connected(self):
        return self.up


@pytest.fixture
def gatt(monkeypatch):
    registered = []
    arrivals: asyncio.Queue | None = None

    async def advertise(interval_us, name=None, services=None, appearance=0):
        assert name and services == [0x1814]
        return await arrivals.get()
    radio = types.SimpleNamespace(config=lambda *a, **k: (0, b"\x24\x0a\xc4\x00\xab\xcd"),
                                  active=lambda *a: True)
    fake_aioble = types.SimpleNamespace(
        Service=FakeService, Characteristic=FakeCharacteristic,
        BufferedCharacteristic=FakeCharacteristic,
        register_services=lambda *services: registered.extend(services), advertise=advertise)
    fake_bluetooth = types.SimpleNamespace(UUID=lambda v: v, BLE=lambda: radio)
    monkeypatch.setitem(sys.modules, "aioble", fake_aioble)
    monkeypatch.setitem(sys.modules, "bluetooth", fake_bluetooth)
    import retrofw.ble.gatt as module

    module = importlib.reload(module)
    module.registered = registered

    def set_arrivals(queue):
        nonlocal arrivals
        arrivals = queue

    module.set_arrivals = set_arrivals
    yield module
    monkeypatch.delitem(sys.modules, "aioble")
    monkeypatch.delitem(sys.modules, "bluetooth")
    importlib.reload(module)


def test_gatt_table_name_and_public_vs_owner_notifications(gatt, device_root):
    server = gatt.GattServer(fs_root=str(device_root), **gatt.app_hooks(str(device_root)))
    assert server.name == "retrorun-ABCD"
    table = {s.uuid: {c.uuid: c for c in s.characteristics} for s in gatt.registered}
    assert set(table) == {0x1814, 0x180F, 0xFEBB, wire_ble.UUID_RR_SERVICE}
    assert table[0x1814][0x2A53].props["notify"]
    assert bytes(table[0x1814][0x2A54].value) == b"\x07\x00"
    assert struct.unpack("<I", table[0xFEBB][wire_ble.UUID_FT_VERSION].value) == (4,)
    transfer = table[0xFEBB][wire_ble.UUID_FT_TRANSFER]
    assert transfer.props["write_no_response"] and transfer.props["capture"]
    assert transfer.max_len == wire_ble.BLE_PAYLOAD_MAX

    watch, laptop = object(), object()
    for conn in (watch, laptop):
        peer = server._peripheral(conn)
        peer.connect(20)
        server.peers[conn] = peer
    server.notify_rsc(896, 172, True, 123, 43210)
    sent = server.rsc_measurement.sent
    assert [c for c, _ in sent] == [watch, laptop]
    assert rsc.decode_measurement(sent[0][1]) == (7, 896, 172, 123, 43210)
    server.notify_battery(140)
    assert server.battery.value == b"\x64" and len(server.battery.sent) == 2

    server.notify_live(1234, wire.ALERT_WARNING, 0, 170)
    assert server.live.sent == []  # nobody authenticated yet: no live data

    async def authenticate_laptop():
        server.control.writes = asyncio.Queue()
        for packet in control.frame(wire_ble.CTL_HELLO, 0, b"", 20):
            server.control.writes.put_nowait((laptop, packet))
        task = asyncio.create_task(server.serve_writes(server.control, gatt.CHAR_CONTROL))
        await asyncio.sleep(0.01)
        rx = control.Reassembler()
        nonce = next(bytes(rx.payload()) for c, p in server.control.sent if rx.feed(p))[2:]
        answer = pairing.host_tag(SECRET, nonce, b"\x01" * 16) + b"\x01" * 16
        for packet in control.frame(wire_ble.CTL_AUTH, 0, answer, 20):
            server.control.writes.put_nowait((laptop, packet))
        await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(authenticate_laptop())
    assert server.peers[laptop].owner() and not server.peers[watch].owner()
    server.notify_live(1234, wire.ALERT_WARNING, 0, 170)
    assert server.live.sent == [(laptop, struct.pack(wire_ble.LIVE_FMT, 1234, 2, 0, 170))]

    # a busy controller: the packet is kept and sent on resume, none lost
    server.transfer.busy = True
    laptop_peer = server.peers[laptop]
    laptop_peer.write(gatt.CHAR_TRANSFER, struct.pack(wire_ble.FT_PATH_CMD_FMT, wire_ble.FT_DELETE, 0, 4)
                      + b"/etc")
    assert server.transfer.sent == []
    server.transfer.busy = False
    laptop_peer.resume()
    assert server.transfer.sent == [(laptop, bytes([wire_ble.FT_DELETE_STATUS, wire_ble.FT_ERROR]))]


def test_advertising_accepts_a_connection_sets_its_mtu_and_forgets_it_on_disconnect(gatt):
    server = gatt.GattServer()

    async def scenario():
        arrivals = asyncio.Queue()
        gatt.set_arrivals(arrivals)
        task = asyncio.create_task(server.advertise())
        phone = FakeConnection()
        arrivals.put_nowait(phone)
        await asyncio.sleep(0.05)
        peer = server.peers[phone]
        sizes = (peer.transfer.payload, peer.control.payload_size)
        phone.up = False
        await asyncio.sleep(0.1)
        task.cancel()
        return sizes

    assert asyncio.run(scenario()) == (244, 244)  # MTU 247 exchanged
    assert server.peers == {} and server.watchers == {}


def test_a_failing_request_does_not_end_the_write_loop(gatt, capsys):
    server = gatt.GattServer()
    phone = object()
    peer = server._peripheral(phone)
    peer.connect(20)
    server.peers[phone] = peer
    calls = []

    def write(which, data):
        calls.append(data)
        if len(calls) == 1:
            raise KeyError("boom")

    peer.write = write

    async def scenario():
        server.control.writes = asyncio.Queue()
        server.control.writes.put_nowait((phone, b"1"))
        server.control.writes.put_nowait((phone, b"2"))
        task = asyncio.create_task(server.serve_writes(server.control, gatt.CHAR_CONTROL))
        await asyncio.sleep(0.02)
        task.cancel()

    asyncio.run(scenario())
    assert calls == [b"1", b"2"] and "request failed" in capsys.readouterr().out


def test_live_encoding_field_by_field():
    from retrofw.ble.gatt import encode_live

    buf = bytearray(wire_ble.LIVE_SIZE)
    assert encode_live(buf, 1234, wire.ALERT_STOP, 0, 175) == 5
    assert bytes(buf) == bytes([0xD2, 0x04, 3, 0, 175])
    encode_live(buf, -1, wire.ALERT_FAULT, wire.SENSOR_BLINDED, 999)
    assert bytes(buf) == bytes([0xFF, 0xFF, 4, 0xFB, 255])  # no distance, blinded (-5)


def test_pair_over_usb_writes_the_secret_on_the_device_and_the_host(mpy, device_fs, tmp_path):
    from retrorun.link.ble import pairing

    class ReplOnMicroPython:  # what SerialTransport.exec does, on the harness
        def exec(self, code):
            result = mpy.run(code, fs=device_fs)
            assert result.exit_code == 0, result.stderr
            return result.stdout.encode()

    secrets = tmp_path / "secrets.json"
    name, path = pairing.pair_over_serial(ReplOnMicroPython(), secret=SECRET, path=secrets)
    assert name.startswith("retrorun-") and path == secrets
    assert (device_fs / "ble_secret").read_bytes() == SECRET
    assert pairing.load_secret(name, secrets) == SECRET
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    again, _ = pairing.pair_over_serial(ReplOnMicroPython(), path=secrets)  # re-pair
    assert again == name and pairing.load_secret(name, secrets) != SECRET
    assert (device_fs / "ble_secret").read_bytes() == pairing.load_secret(name, secrets)


def test_scanning_without_an_adapter_is_a_clear_error_or_a_list():
    from retrorun.errors import RetrorunError
    from retrorun.link.ble.transport import scan

    try:
        found = scan(0.5)
    except RetrorunError as exc:
        assert "Bluetooth adapter" in str(exc)
    else:
        assert all(d["name"].startswith(wire_ble.BLE_NAME_PREFIX) for d in found)
