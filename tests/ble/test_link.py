"""The BLE transport against the device cores over the in-memory GATT link (fault injection:
packet sizes, lost packets, disconnects, a relay between the owner and the device, refusals),
in CPython and in one persistent real-MicroPython VM. The end-to-end tests on a real BLE stack
are tests/e2e/test_ble_bumble.py."""

from __future__ import annotations

import hashlib
import json
import struct
import time

import _bleio
import pytest
from ble_support import SECRET, snapshot

from retrofw import wire_ble
from retrorun.errors import RetrorunError
from retrorun.link.ble import shim
from retrorun.link.ble.control import (
    ControlClient,
    NotPaired,
    Tampered,
    control_service_class,
)
from retrorun.link.ble.device_cores import DEFAULT_UID, CPythonDevice, MicroPythonDevice
from retrorun.link.ble.link import GattLink
from retrorun.link.ble.transport import BleTransport, NeedsConfirmation
from retrorun.link.transport import TransferError

pytestmark = pytest.mark.ble


@pytest.fixture(autouse=True)
def short_timeout():
    old = shim.CompatPacketBuffer.timeout
    shim.CompatPacketBuffer.timeout = 0.2
    yield
    shim.CompatPacketBuffer.timeout = old


def read_all(transport: BleTransport, sid: int, size: int, chunk: int = 4096) -> bytes:
    out = bytearray()
    while len(out) < size:
        piece = transport.read(sid, len(out), chunk)
        assert piece, "ended early"
        out += piece
    return bytes(out)


def secrets_for(uid: bytes, secret: bytes = SECRET):
    return lambda asked: secret if asked == uid else None


@pytest.mark.parametrize("payload", [20, 27, 64, 128, 185, 244])
def test_a_session_reads_byte_identical_at_every_packet_size(device_root, session_bytes,
                                                             payload):
    link = GattLink(CPythonDevice(device_root), payload=payload)
    transport = BleTransport(link.connect, secrets_for(DEFAULT_UID), timeout=0.2)
    size, digest = transport.file_hash(1)
    assert (size, digest) == (len(session_bytes), hashlib.sha256(session_bytes).digest())
    assert read_all(transport, 1, size) == session_bytes
    sent = [n for d, _, n in link.trace if d == "d2h"]
    assert max(sent) == payload  # packets fill the MTU, never exceed it (the link asserts)
    assert link.dropped == {"h2d": 0, "d2h": 0} and transport.resumes == 0
    assert transport.uid == DEFAULT_UID


def test_lost_packets_and_a_disconnect_are_asked_again_byte_identical(device_root,
                                                                      session_bytes):
    lost = {("d2h", 40), ("d2h", 41), ("d2h", 300), ("h2d", 9), ("d2h", 1234)}
    link = GattLink(CPythonDevice(device_root), payload=20,
                    drop=lambda d, i, _p: (d, i) in lost, disconnect_after=900)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    assert read_all(transport, 1, len(session_bytes)) == session_bytes
    assert link.connections >= 2 and transport.reconnects >= 1
    assert transport.resumes >= 3
    assert link.dropped["d2h"] >= 3 and link.dropped["h2d"] == 1
    # asked again from the lost chunk, not from zero: far less than 2x the file came
    assert sum(n for d, _, n in link.trace if d == "d2h") < 1.3 * len(session_bytes)


def test_a_damaged_chunk_fails_its_crc_and_is_not_returned(device_root, session_bytes):
    """A notification whose bytes changed (a relay, a radio bug that passed the LL CRC) is
    caught by the seal; with the seal forged away it would be the CRC-32: the transport never
    hands damaged bytes to the store."""
    flipped = []

    class Flip(CPythonDevice):
        def write(self, characteristic, data):
            packets = super().write(characteristic, data)
            if len(packets) > 3 and not flipped:
                key, body = packets[3]
                packets[3] = (key, body[:5] + bytes([body[5] ^ 1]) + body[6:])
                flipped.append(True)
            return packets

    link = GattLink(Flip(device_root), payload=244)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    transport.status()  # authenticated; the next long answer is damaged
    with pytest.raises(Tampered):
        transport.read(1, 0, 900)
    assert flipped
    assert transport.read(1, 0, 900) == session_bytes[:900]


def test_lost_control_packets_during_authentication_and_requests(device_root):
    # d2h 0: the HELLO answer; h2d 2: a packet of AUTH; later a config answer packet
    lost = {("d2h", 0), ("h2d", 2), ("d2h", 9)}
    link = GattLink(CPythonDevice(device_root), payload=20,
                    drop=lambda d, i, _p: (d, i) in lost)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    assert transport.config_get()["ok"]
    assert transport.config_set({"haptic.strength": 93})["config"]["haptic.strength"] == 93
    assert link.dropped == {"h2d": 1, "d2h": 2}
    assert transport.connections >= 2  # a failed authentication is never kept


def test_unpaired_hosts_are_refused_everything_and_nothing_changes(device_root):
    before = snapshot(device_root)
    link = GattLink(CPythonDevice(device_root), payload=64)
    ctl = ControlClient(link.connect()[control_service_class()].control, timeout=0.2)
    for op, body in ((wire_ble.CTL_CONFIG_GET, b""),
                     (wire_ble.CTL_CONFIG_SET, b'{"haptic.strength": 20}'),
                     (wire_ble.CTL_SESSIONS, b""), (wire_ble.CTL_STATUS, b""),
                     (wire_ble.CTL_MARK_SYNCED, b"1"),
                     (wire_ble.CTL_FILE_HASH, struct.pack("<I", 1)),
                     (wire_ble.CTL_READ, struct.pack(wire_ble.CTL_READ_FMT, 1, 0, 100))):
        status, answer = ctl.exchange(op, body)
        assert status == wire_ble.CTL_ERR_NOT_AUTH and b"not authenticated" in answer
    transport = BleTransport(link.connect, b"\x55" * 32, timeout=0.2)  # the wrong secret
    with pytest.raises(NotPaired, match="refused the pairing secret"):
        transport.config_set({"haptic.strength": 20})
    assert snapshot(device_root) == before


def test_the_laptop_takes_the_secret_of_the_uid_the_device_tells(device_root, tmp_path):
    """Two boards may advertise one name: the secret is chosen by uid, and a board whose uid
    has no secret here is refused by name and uid, never given another board's secret."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(device_root, other)
    (other / "ble_secret").write_bytes(b"\x33" * 32)
    twin_uid = bytes.fromhex("24a1600affff")
    stored = {DEFAULT_UID: SECRET, twin_uid: b"\x33" * 32}
    for root, uid in ((device_root, DEFAULT_UID), (other, twin_uid)):
        link = GattLink(CPythonDevice(root, uid=uid), payload=64)
        transport = BleTransport(link.connect, stored.get, name="retrorun-1B2C", timeout=0.2)
        assert transport.status()["ok"] and transport.uid == uid
    link = GattLink(CPythonDevice(other, uid=bytes.fromhex("0000000000aa")), payload=64)
    transport = BleTransport(link.connect, stored.get, name="retrorun-1B2C", timeout=0.2)
    with pytest.raises(NotPaired, match="0000000000aa"):
        transport.status()


def test_a_relayed_challenge_leaves_the_relay_unable_to_say_anything(device_root):
    """An impostor advertising the device's name passes the owner's HELLO and AUTH through to
    the device (here: the owner's client writes through the impostor's own connection) and
    keeps the authenticated link. Everything it then sends is refused, and an answer it changes
    on the way to the owner is caught."""
    from retrofw import settings

    link = GattLink(CPythonDevice(device_root), payload=64)
    relay = link.connect()[control_service_class()].control  # the impostor's link
    owner = ControlClient(relay, timeout=0.2)
    owner.hello()
    owner.authenticate(SECRET)  # relayed: the device now calls this link authenticated
    status, captured = owner.request(wire_ble.CTL_CONFIG_GET)
    assert status == wire_ble.CTL_OK and json.loads(captured)["ok"]
    impostor = ControlClient(relay, timeout=0.2)  # same link, no key
    weaken = json.dumps({"haptic.strength": 20, "alert.mode": "treadmill"}).encode()
    assert impostor.exchange(wire_ble.CTL_CONFIG_SET, weaken)[0] == wire_ble.CTL_ERR_BAD_TAG
    impostor.key, impostor.counter = b"\x00" * 32, 100
    assert impostor.request(wire_ble.CTL_CONFIG_SET, weaken)[0] == wire_ble.CTL_ERR_BAD_TAG
    assert settings.load(str(device_root))[0]["haptic.strength"] == 80
    # an answer the impostor changes on its way to the owner
    real_read = relay.readinto

    def changing(buf):
        n = real_read(buf)
        if n > 8:
            buf[n - 1] ^= 0xFF
        return n

    relay.readinto = changing
    with pytest.raises(Tampered):
        owner.request(wire_ble.CTL_STATUS)


def test_a_weakening_change_waits_for_the_button_and_a_stronger_one_does_not(device_root):
    from retrofw import settings

    device = CPythonDevice(device_root)
    link = GattLink(device, payload=128)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    stronger = transport.config_set({"haptic.strength": 95, "alert.notice_m": 5.0})
    assert stronger["ok"] and settings.load(str(device_root))[0]["haptic.strength"] == 95
    for changes in ({"haptic.strength": 40}, {"alert.mode": "treadmill"},
                    {"alert.stop_m": 0.5}, {"alert.fault_timeout_ms": 900}):
        with pytest.raises(NeedsConfirmation) as refused:
            transport.config_set(changes)
        assert refused.value.answer["confirm"] == list(changes)
        assert refused.value.answer["seconds"] == 30
    values = settings.load(str(device_root))[0]
    assert (values["haptic.strength"], values["alert.mode"]) == (95, "outdoor")
    # the last change waits; a press 31 s later is the button's usual press
    asked = int(time.monotonic() * 1000) & (2**30 - 1)  # the device's ticks_ms (device_cores)
    assert not device.confirm(asked + 31_000)
    assert settings.load(str(device_root))[0]["alert.fault_timeout_ms"] == 500
    assert not device.confirm(asked + 1_000)  # nothing waits any more
    with pytest.raises(NeedsConfirmation):
        transport.config_set({"haptic.strength": 40})
    assert device.confirm(int(time.monotonic() * 1000 + 1_000) & (2**30 - 1))  # 1 s later
    assert settings.load(str(device_root))[0]["haptic.strength"] == 40


def test_config_and_sessions_over_ble_answer_like_the_device_api(device_root):
    from retrofw import settings

    link = GattLink(CPythonDevice(device_root), payload=20)  # config JSON spans many packets
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    got = transport.config_get()
    assert got["ok"] and got["config"] == settings.load(str(device_root))[0]
    refused = transport.config_set({"haptic.strength": 555})
    assert refused["ok"] is False and "haptic.strength" in str(refused["errors"])
    sessions = transport.sessions()["sessions"]
    assert [s["id"] for s in sessions] == [1, 2] and not sessions[0]["synced"]
    assert sessions[0]["complete"]  # the real session has its footer
    assert transport.mark_synced(1)["ok"]
    assert (device_root / "sessions/000001.syn").exists()
    assert transport.status()["unsynced"] == 1
    with pytest.raises(RetrorunError, match="no session 404"):
        transport.read(404, 0, 100)
    with pytest.raises(RetrorunError, match="not available over BLE"):
        transport.call("read_config_file")


def test_ble_sync_stores_what_usb_sync_stores(device_root, tmp_path):
    """`retrorun sync`'s code (pull_sessions) over BLE stores the bytes of the device's files;
    tests/e2e/test_ble_bumble.py compares a BLE sync with a USB sync of one board."""
    from retrorun.sessions.store import Store
    from retrorun.sessions.sync import pull_sessions

    link = GattLink(CPythonDevice(device_root), payload=185)
    store = Store(tmp_path / "store")
    result = pull_sessions(BleTransport(link.connect, SECRET, timeout=0.2), store)
    assert len(result.stored) == 2
    for key, sid in zip(sorted(result.stored), (1, 2), strict=True):
        assert store.raw(key) == (device_root / f"sessions/{sid:06d}.rrl").read_bytes()


def scripted_exchange(device, payload: int) -> list:
    """Drive a device with a fixed script (refusal, auth, reads, hash, config); every packet."""
    import os

    link = GattLink(device, payload=payload)
    connection = link.connect()
    ctl = ControlClient(connection[control_service_class()].control, timeout=2)
    log = [list(ctl.exchange(wire_ble.CTL_STATUS))]
    fixed = iter([b"\x09" * 16])
    real = os.urandom
    os.urandom = lambda n: next(fixed)  # the host nonce, the same for both runs
    try:
        ctl.hello()
        ctl.authenticate(SECRET)
    finally:
        os.urandom = real
    for body in (struct.pack(wire_ble.CTL_READ_FMT, 2, 0, 700),
                 struct.pack(wire_ble.CTL_READ_FMT, 1, 12345, 960)):
        status, answer = ctl.request(wire_ble.CTL_READ, body)
        log.append([status, answer.hex()])
    log.append(list(ctl.request(wire_ble.CTL_FILE_HASH, struct.pack("<I", 2))))
    status, answer = ctl.request(wire_ble.CTL_CONFIG_SET, b'{"haptic.strength": 97}')
    log.append([status, json.loads(answer)])  # MicroPython's dicts keep no key order
    link.disconnect()
    return [log, [list(t) for t in link.trace]]


class Stream:
    """The same "random" byte sequence for both devices, however they ask for it."""

    def __init__(self):
        self.at = 0

    def __call__(self, n):
        out = bytes((self.at + i) * 37 % 256 for i in range(n))
        self.at += n
        return out


def test_cores_give_identical_packets_in_cpython_and_micropython(tmp_path, device_root):
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(device_root, twin)
    device = MicroPythonDevice(twin, random_bytes=Stream())
    fixed = Stream()
    try:
        for payload in (20, 64):
            cpython = scripted_exchange(CPythonDevice(device_root, random_bytes=fixed), payload)
            micropython = scripted_exchange(device, payload)
            assert cpython[0][0][0] == wire_ble.CTL_ERR_NOT_AUTH
            assert micropython == cpython
    finally:
        device.close()
    assert snapshot(twin) == snapshot(device_root)  # same config written on both


def test_a_micropython_device_with_loss_and_disconnect(device_root, session_bytes):
    device = MicroPythonDevice(device_root)
    try:
        lost = {("d2h", 77), ("h2d", 5)}
        for payload in (20, 244):
            link = GattLink(device, payload=payload, drop=lambda d, i, _p: (d, i) in lost,
                            disconnect_after=150)
            transport = BleTransport(link.connect, SECRET, timeout=0.2)
            assert read_all(transport, 1, len(session_bytes)) == session_bytes
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
p = Peripheral(lambda v: True)
p.connect(244)
gc.collect()
result = [b - a, gc.mem_alloc() - b]
""", heap_kb=256)
    modules, connection = used
    # rsc, control, pairing, gatt compiled from source: 16.9 KB measured (25.8 KB with the
    # file transfer service, docs/ble.md); the budget leaves room, not a copy of the figure
    assert modules < 20_000, modules
    assert connection < 2_500, connection  # buffers made once per connection


def test_shim_accepts_max_packet_size_where_blinka_does_not(device_root):
    from _bleio.packet_buffer import PacketBuffer as BlinkaPacketBuffer

    with pytest.raises(TypeError):
        BlinkaPacketBuffer(None, buffer_size=4, max_packet_size=512)
    link = GattLink(CPythonDevice(device_root), payload=100)
    connection = link.connect()
    pb = connection[control_service_class()].control
    assert isinstance(pb, shim.CompatPacketBuffer)
    assert _bleio.PacketBuffer is shim.CompatPacketBuffer
    assert pb.outgoing_packet_length == 100
    with pytest.raises(shim.LinkTimeout):
        pb.readinto(bytearray(512))  # nothing will come: no endless 0-byte spin
    link.disconnect()
    with pytest.raises(_bleio.ConnectionError):
        pb.readinto(bytearray(512))
    with pytest.raises(RetrorunError):
        BleTransport(link.connect, None).status()


def test_sync_time_figures_of_the_docs_come_from_the_measured_trace():
    from retrorun.link.ble.airtime import measure, sync_time

    small = measure(40_000, 20)
    big = measure(40_000, 244)
    # 40,000 bytes in 42 READs of at most 960; at 20-byte packets one READ answer (4 head +
    # 4 counter + 8 + 960 + 16 tag = 992 bytes) is ceil(992 / 19) = 53 notifications
    reads = -(-40_000 // wire_ble.CTL_READ_MAX)
    assert reads == 42
    assert small["turns"] == big["turns"] == 2 * (reads + 3)  # + HELLO, AUTH, FILE_HASH
    assert small["d2h"]["packets"] > 41 * 53
    assert big["d2h"]["packets"] < small["d2h"]["packets"] / 10
    # a turn of 10 packets at 4 per event takes 3 events; every turn change at least 1
    trace = [("d2h", 1, 20)] * 10 + [("h2d", 0, 12)] + [("d2h", 1, 20)]
    assert sync_time(trace, interval_ms=10, packets_per_event=4) == pytest.approx(0.05)


def test_a_damaged_answer_to_read_is_a_transfer_error_the_sync_retries(device_root):
    """The CRC-32 check itself, on an answer whose seal is right (the device's file changed
    under a read is the same case): TransferError, which pull_sessions retries."""
    link = GattLink(CPythonDevice(device_root), payload=244)
    transport = BleTransport(link.connect, SECRET, timeout=0.2)
    transport.status()
    real = transport._control.request  # type: ignore[union-attr]

    def bad_crc(op, body=b""):
        status, answer = real(op, body)
        if op == wire_ble.CTL_READ:
            answer = answer[:4] + bytes([answer[4] ^ 1]) + answer[5:]
        return status, answer

    transport._control.request = bad_crc  # type: ignore[union-attr,method-assign]
    with pytest.raises(TransferError, match="CRC-32"):
        transport.read(1, 0, 100)
