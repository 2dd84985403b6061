"""The real adafruit_ble_file_transfer client and the BLE transport against the device cores,
over the in-memory GATT link: packet sizes, lost packets, disconnects, refusals, both runtimes."""

from __future__ import annotations

import hashlib
import json
import os

import _bleio
import adafruit_ble_file_transfer as aft
import pytest
from ble_support import SECRET, snapshot

from retrofw import wire, wire_ble
from retrorun.errors import RetrorunError
from retrorun.link.ble import shim
from retrorun.link.ble.control import ControlClient, DeviceRefused, NotPaired
from retrorun.link.ble.device_cores import CPythonDevice, MicroPythonDevice
from retrorun.link.ble.link import GattLink
from retrorun.link.ble.transport import BleTransport

pytestmark = pytest.mark.ble


def client_over(link: GattLink):
    """The real FileTransferClient bound through adafruit_ble to a fresh link connection."""
    connection = link.connect()
    service = connection[aft.FileTransferService]
    return connection, service, aft.FileTransferClient(service)


@pytest.fixture(autouse=True)
def short_timeout():
    old = shim.CompatPacketBuffer.timeout
    shim.CompatPacketBuffer.timeout = 0.2
    yield
    shim.CompatPacketBuffer.timeout = old


@pytest.mark.parametrize("payload", [20, 27, 64, 128, 185, 244])
def test_real_client_reads_a_session_at_every_packet_size(device_root, session_bytes, payload):
    link = GattLink(CPythonDevice(device_root), payload=payload)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    assert transport.read_file("000001.rrl") == session_bytes
    sent = [n for d, _, n in link.trace if d == "d2h"]
    assert max(sent) == payload  # packets fill the MTU, never exceed it (the link asserts)
    assert link.dropped == {"h2d": 0, "d2h": 0} and transport.resumes == 0


def test_lost_packets_and_a_disconnect_are_resumed_byte_identical(device_root, session_bytes):
    lost = {("d2h", 40), ("d2h", 41), ("d2h", 300), ("h2d", 9), ("d2h", 1234)}
    link = GattLink(CPythonDevice(device_root), payload=20,
                    drop=lambda d, i, _p: (d, i) in lost, disconnect_after=900)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    assert transport.read_file("000001.rrl") == session_bytes
    assert link.connections >= 2 and transport.reconnects >= 1
    assert transport.resumes >= 3
    assert link.dropped["d2h"] >= 3 and link.dropped["h2d"] == 1
    # resumed from the last complete chunk, not from zero: far less than 2x the file came
    assert sum(n for d, _, n in link.trace if d == "d2h") < 1.3 * len(session_bytes)


def test_lost_control_packets_during_authentication_and_requests(device_root):
    # d2h 0: the HELLO answer; h2d 2: a packet of AUTH; later a config answer packet
    lost = {("d2h", 0), ("h2d", 2), ("d2h", 9)}
    link = GattLink(CPythonDevice(device_root), payload=20,
                    drop=lambda d, i, _p: (d, i) in lost)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    assert transport.config_get()["ok"]
    assert transport.config_set({"haptic.strength": 33})["config"]["haptic.strength"] == 33
    assert link.dropped == {"h2d": 1, "d2h": 2}
    assert transport.connections >= 2  # a failed authentication is never kept


def test_unpaired_client_is_refused_everything_and_nothing_changes(device_root):
    before = snapshot(device_root)
    device = CPythonDevice(device_root)
    link = GattLink(device, payload=64)
    _, _, client = client_over(link)
    why = device.peripheral.transfer
    with pytest.raises(ValueError):
        client.read("/sessions/000001.rrl")
    assert why.why.startswith("not authenticated")
    assert client.listdir("/sessions") == []  # the client's way of showing a refused list
    assert why.why.startswith("not authenticated")
    with pytest.raises(RuntimeError):
        client.write("/sessions/evil.rrl", b"x" * 100)
    with pytest.raises(ValueError):
        client.delete("/sessions/000001.rrl")
    with pytest.raises(ValueError):
        client.mkdir("/sessions/new")
    with pytest.raises(ValueError):
        client.move("/sessions/000001.rrl", "/sessions/000009.rrl")
    # config and listing over the control characteristic, without authenticating
    connection = link.connect()
    from retrorun.link.ble.control import control_service_class

    ctl = ControlClient(connection[control_service_class()].control)
    for op, payload in ((wire_ble.CTL_CONFIG_GET, b""), (wire_ble.CTL_CONFIG_SET, b'{"haptic.strength": 5}'),
                        (wire_ble.CTL_SESSIONS, b""), (wire_ble.CTL_STATUS, b""),
                        (wire_ble.CTL_MARK_SYNCED, b"1"), (wire_ble.CTL_FILE_HASH, b"000001.rrl")):
        status, answer = ctl.request(op, payload)
        assert status == wire_ble.CTL_ERR_NOT_AUTH and b"not authenticated" in answer
    # a host with the wrong secret gets a clear error, and no access either
    transport = BleTransport(link.connect, b"\x55" * 32, timeout=0.2)
    with pytest.raises(NotPaired, match="refused the pairing secret"):
        transport.config_set({"haptic.strength": 5})
    assert snapshot(device_root) == before


def test_paired_owner_can_list_write_move_delete_but_not_leave_the_sessions_folder(device_root):
    device = CPythonDevice(device_root)
    link = GattLink(device, payload=128)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    transport.status()  # connects and authenticates
    client = transport._client
    names = [(n, size, flags) for n, size, flags, _ in client.listdir("/sessions")]
    assert names == [("000001.rrl", (device_root / "sessions/000001.rrl").stat().st_size, 0),
                     ("000002.rrl", 700, 0)]
    client.mkdir("/sessions/tmp/a")
    assert (device_root / "sessions/tmp/a").is_dir()
    data = os.urandom(3000)
    client.write("/sessions/tmp/a/x.bin", data)
    assert (device_root / "sessions/tmp/a/x.bin").read_bytes() == data
    client.move("/sessions/tmp/a/x.bin", "/sessions/tmp/y.bin")
    assert bytes(client.read("/sessions/tmp/y.bin")) == data
    client.delete("/sessions/tmp/y.bin")
    client.delete("/sessions/tmp/a")
    assert sorted(p.name for p in (device_root / "sessions/tmp").iterdir()) == []
    before = snapshot(device_root)
    for path in ("/ble_secret", "/sessions/../ble_secret", "/sessions//000001.rrl", "/config.json",
                 "/sessionsX/a", "sessions/000001.rrl"):
        with pytest.raises(ValueError):
            client.read(path)
        assert device.peripheral.transfer.why == "path outside the sessions folder"
    with pytest.raises(RuntimeError):
        client.write("/ble_secret", b"\x00" * 32)
    with pytest.raises(ValueError):
        client.delete("/sessions")
    with pytest.raises(ValueError):
        client.move("/sessions/000001.rrl", "/000001.rrl")
    assert snapshot(device_root) == before
    with pytest.raises(DeviceRefused, match="no such file"):
        transport.read_file("000404.rrl")


def test_config_and_sessions_over_ble_answer_like_the_device_api(device_root):
    from retrofw import settings

    link = GattLink(CPythonDevice(device_root), payload=20)  # config JSON spans many packets
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    got = transport.config_get()
    assert got["ok"] and got["config"] == settings.load(str(device_root))[0]
    answer = transport.config_set({"haptic.strength": 55})
    assert answer["ok"] and answer["config"]["haptic.strength"] == 55
    assert settings.load(str(device_root))[0]["haptic.strength"] == 55
    refused = transport.config_set({"haptic.strength": 555})
    assert refused["ok"] is False and "haptic.strength" in str(refused["errors"])
    assert settings.load(str(device_root))[0]["haptic.strength"] == 55
    sessions = transport.sessions()["sessions"]
    assert [s["id"] for s in sessions] == [1, 2] and not sessions[0]["synced"]
    assert sessions[0]["complete"]  # the real session has its footer
    assert transport.mark_synced(1)["ok"]
    assert (device_root / "sessions/000001.syn").exists()
    assert transport.status()["unsynced"] == 1


def test_ble_sync_equals_the_serial_api_read(device_root, mpy):
    """The bytes retrofw.api.read() serves over USB (decoded as the serial transport does) equal
    what the BLE transport reads, for the real 1-hour session."""
    size = (device_root / "sessions/000001.rrl").stat().st_size
    chunks: list[bytes] = []
    out = mpy.run(f"""
import retrofw.api as api
api.ROOT = "/"
for offset in range(0, {size}, 4096):
    api.read(1, offset, 4096)
""", fs=device_root, stdout=chunks.append, heap_kb=256)
    assert out.exit_code == 0, out.stderr
    rest = b"".join(chunks)
    serial = bytearray()
    while rest:
        header, rest = rest.split(b"\n", 1)
        _offset, length, _crc = wire.api_parse_read_header(header.decode())
        i = 0
        for _ in range(length):  # escaped: API_ESC + byte stands for one byte
            i += 2 if rest[i] == wire.API_ESC else 1
        serial += wire.api_unescape(rest[:i])
        rest = rest[i:]
    link = GattLink(CPythonDevice(device_root), payload=244)
    ble = BleTransport(link.connect, SECRET, timeout=0.2).read_file("000001.rrl")
    assert hashlib.sha256(ble).digest() == hashlib.sha256(bytes(serial)).digest()
    assert len(ble) == size


def scripted_exchange(device, payload: int) -> list:
    """Drive a device with a fixed script (auth, list, read, refusals); return every packet."""
    link = GattLink(device, payload=payload)
    connection = link.connect()
    from retrorun.link.ble.control import control_service_class

    ctl = ControlClient(connection[control_service_class()].control)
    service = connection[aft.FileTransferService]
    client = aft.FileTransferClient(service)
    log = []
    with pytest.raises(ValueError):
        client.read("/sessions/000002.rrl")
    _, hello = ctl.request(wire_ble.CTL_HELLO)
    from retrofw.ble.pairing import host_tag

    status, answer = ctl.request(wire_ble.CTL_AUTH, host_tag(SECRET, hello[2:], b"\x09" * 16)
                                 + b"\x09" * 16)
    log.append([status, answer.hex()])
    log.append(bytes(client.read("/sessions/000002.rrl")).hex())
    log.append(bytes(client.read("/sessions/000001.rrl", offset=12345)).hex())
    if payload >= wire_ble.FT_LISTDIR_ENTRY_SIZE:  # the client needs a whole entry header per packet
        log.append([list(e[:3]) for e in client.listdir("/sessions/")])
    log.append(list(ctl.request(wire_ble.CTL_FILE_HASH, b"000002.rrl")))
    status, answer = ctl.request(wire_ble.CTL_CONFIG_SET, b'{"haptic.strength": 27}')
    log.append([status, json.loads(answer)])  # MicroPython's dicts keep no key order
    link.disconnect()
    return [log, [list(t) for t in link.trace]]


def test_cores_give_identical_packets_in_cpython_and_micropython(tmp_path, device_root):
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(device_root, twin)

    class Stream:  # the same "random" byte sequence for both devices, however they ask for it
        def __init__(self):
            self.at = 0

        def __call__(self, n):
            out = bytes((self.at + i) * 37 % 256 for i in range(n))
            self.at += n
            return out

    device = MicroPythonDevice(twin, random_bytes=Stream())
    fixed = Stream()
    try:
        for payload in (20, 64):
            cpython = scripted_exchange(CPythonDevice(device_root, random_bytes=fixed), payload)
            micropython = scripted_exchange(device, payload)
            assert cpython[0][0][0] == wire_ble.CTL_OK
            assert micropython == cpython
    finally:
        device.close()
    assert snapshot(twin) == snapshot(device_root)  # same config written on both


def test_real_client_over_micropython_device_with_loss_and_disconnect(device_root,
                                                                      session_bytes):
    device = MicroPythonDevice(device_root)
    try:
        lost = {("d2h", 77), ("h2d", 5)}
        for payload in (20, 244):
            link = GattLink(device, payload=payload, drop=lambda d, i, _p: (d, i) in lost,
                            disconnect_after=150)
            transport = BleTransport(link.connect, SECRET, timeout=0.2)
            assert transport.read_file("000001.rrl") == session_bytes
            assert transport.reconnects >= 1 and transport.resumes >= 2
    finally:
        device.close()


def test_ram_of_the_cores_in_micropython(mpy):
    """Bytecode of the BLE modules from source, and one connection's state, on the heap."""
    used = mpy.eval("""
import gc
from retrofw import wire, wire_ble
gc.collect()
a = gc.mem_alloc()
from retrofw.ble.gatt import Peripheral
gc.collect()
b = gc.mem_alloc()
p = Peripheral(lambda c, v: True)
p.connect(244)
gc.collect()
result = [b - a, gc.mem_alloc() - b]
""", heap_kb=256)
    modules, connection = used
    assert modules < 40_000, modules  # rsc, control, filetransfer, gatt (measured ~30 KB)
    assert connection < 4_000, connection  # buffers made once per connection (~3 KB)


def test_shim_accepts_max_packet_size_where_blinka_does_not(device_root):
    from _bleio.packet_buffer import PacketBuffer as BlinkaPacketBuffer

    with pytest.raises(TypeError):
        BlinkaPacketBuffer(None, buffer_size=4, max_packet_size=512)
    link = GattLink(CPythonDevice(device_root), payload=100)
    connection = link.connect()
    raw = connection[aft.FileTransferService].raw
    assert isinstance(raw, shim.CompatPacketBuffer) and _bleio.PacketBuffer is shim.CompatPacketBuffer
    assert raw.outgoing_packet_length == 100
    with pytest.raises(shim.LinkTimeout):
        raw.readinto(bytearray(512))  # nothing will come: no endless 0-byte spin
    link.disconnect()
    with pytest.raises(_bleio.ConnectionError):
        raw.readinto(bytearray(512))
    with pytest.raises(RetrorunError):
        BleTransport(link.connect, None).status()


def test_sync_time_figures_of_the_docs_come_from_the_measured_trace():
    from retrorun.link.ble.airtime import measure, sync_time

    small = measure(40_000, 20)
    big = measure(40_000, 244)
    assert (small["packets"], small["turns"]) == (2218, 170)  # docs/ble.md table
    assert (big["packets"], big["turns"]) == (333, 170)
    assert round(small["overhead_att"], 3) == 1.062
    assert round(sync_time(small["trace"], interval_ms=7.5, packets_per_event=4), 2) == 4.95
    assert round(sync_time(big["trace"], interval_ms=30, packets_per_event=4, ll_max=251),
                 2) == 5.10
    # a turn of 10 packets at 4 per event takes 3 events; every turn change at least 1
    trace = [("d2h", 1, 20)] * 10 + [("h2d", 0, 12)] + [("d2h", 1, 20)]
    assert sync_time(trace, interval_ms=10, packets_per_event=4) == pytest.approx(0.05)


def test_transport_read_by_session_id_matches_read_file(device_root, session_bytes):
    link = GattLink(CPythonDevice(device_root), payload=185)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    assert transport.read(1, 1000, 4096) == session_bytes[1000:5096]
    assert transport.read("000001.rrl", len(session_bytes) - 10, 100) == session_bytes[-10:]
