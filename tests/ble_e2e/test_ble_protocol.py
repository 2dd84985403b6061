"""The real app on the virtual board, its GATT layer (retrofw/ble/gatt.py) on the virtual
board's `bluetooth` module backed by bumble, seen from bumble centrals that the tests drive
directly: what a watch, a phone or an attacker in range meets. The oracles are bumble's own
parsers (advertising data, ATT, GATT discovery), the GATT specification's RSC Measurement
format (decoded by hand here), docs/ble.md's control protocol (bumble_client.py, CPython's
hmac), and the board's own USB console."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import struct

import pytest
from ble_board import SECRET, WORLD
from bumble.core import UUID, AdvertisingData
from bumble_client import AUTH, CONFIG_SET, HELLO, STATUS, UUID_CONTROL, Client, auth_tags, seal
from waiting import wait_until

pytestmark = [pytest.mark.bumble, pytest.mark.micropython]


def test_the_advertisement_names_the_board_within_31_bytes(board):
    client = Client(board.radio)
    heard = client.run(client.scan(1.5))
    ours = [a for a in heard if a.address == board.radio.address]
    assert ours, [str(a.address) for a in heard]
    adverts = [a for a in ours if not a.is_scan_response]
    assert adverts
    for a in ours:  # each PDU's data as it went over the air (Core Spec Vol 6 Part B 2.3.1)
        assert len(a.data_bytes) <= 31
    data = AdvertisingData.from_bytes(adverts[0].data_bytes)  # parsed by bumble
    assert data.get(AdvertisingData.COMPLETE_LOCAL_NAME) == board.name
    assert data.get(AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS) == [
        UUID.from_16_bits(0x1814)]  # Running Speed and Cadence
    assert data.get(AdvertisingData.FLAGS) == 0x06  # LE General Discoverable, no BR/EDR
    # bumble's LocalLink answers a scan request with the advertising data, so the scan response
    # is read where the firmware handed it to the stack (gap_advertise(resp_data=...)):
    # Appearance 0x0440, Running Walking Sensor (Assigned Numbers, Appearance values)
    assert len(board.radio.resp_data) <= 31
    response = AdvertisingData.from_bytes(board.radio.resp_data)
    assert int(response.get(AdvertisingData.APPEARANCE)) == 0x0440
    assert adverts[0].is_connectable
    client.run(client.power_off())


def test_a_central_connects_and_finds_the_services_as_a_footpod_reads_them(board):
    client = Client(board.radio)

    async def look():
        peer = await client.connect()
        found = {}
        for service in peer.services:
            for ch in service.characteristics:
                found[(service.uuid, ch.uuid)] = ch
        rsc, batt = UUID.from_16_bits(0x1814), UUID.from_16_bits(0x180F)
        feature = await found[(rsc, UUID.from_16_bits(0x2A54))].read_value()
        level = await found[(batt, UUID.from_16_bits(0x2A19))].read_value()
        name = await found[(UUID.from_16_bits(0x1800), UUID.from_16_bits(0x2A00))].read_value()
        meas = found[(rsc, UUID.from_16_bits(0x2A53))]
        cccd = [d for d in meas.descriptors if d.type == UUID.from_16_bits(0x2902)]
        return feature, level, name, meas.properties, cccd, client.connection.att_mtu

    feature, level, name, props, cccd, mtu = client.run(look())
    battery_pct = _owner_status(client)["battery_pct"]
    # RSC Feature: bit 0 stride length, bit 1 total distance, bit 2 walking/running status
    assert feature == bytes((0x07, 0x00))
    assert level == bytes((battery_pct,))  # Battery Level: what the app's status says
    assert name == board.name.encode()  # GAP Device Name: ble.config(gap_name=...)
    assert props == 0x10 and len(cccd) == 1  # RSC Measurement: notify only, with its CCCD
    assert mtu == 247  # the firmware's preferred MTU (ble.config(mtu=247))
    client.run(client.power_off())


def _live_cadences(out: bytes) -> set[int]:
    """Cadence values the app printed on its USB console (`@rr distance level cadence ...`)."""
    return {int(m.group(1)) for m in re.finditer(rb"@rr -?\d+ \d+ (\d+) ", out)}


def test_rsc_measurements_carry_the_cadence_the_app_computes_once_a_second(make_ble_board):
    # a VL53L1X board: an HC-SR04's echo timeout blocks the app's loop (time_pulse_us) and
    # stretches the 20 ms tick (docs/ble.md)
    board = make_ble_board(parts={"distance": {"kind": "vl53l1x", "address": 0x29}},
                           world={**WORLD, "sensor": {"kind": "vl53l1x"}})
    board.press()  # start a recording: the step counter runs
    assert wait_until(lambda: max(_live_cadences(bytes(board.out)) or {0}) > 140, 60)
    client = Client(board.radio)
    got: list[tuple[int, bytes]] = []

    async def listen():
        peer = await client.connect()
        meas = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A53))[0]
        await meas.subscribe(lambda v: got.append((board.hw.now_us, bytes(v))))
        while len(got) < 4:
            await asyncio.sleep(0.05)
        await client.disconnect()

    client.run(listen(), 30)
    printed = _live_cadences(bytes(board.out))
    for _, value in got:
        # GATT RSC Measurement: flags uint8; speed uint16 (1/256 m/s); cadence uint8 (1/min);
        # stride uint16 (1/100 m) if flags bit 0; total distance uint32 (1/10 m) if bit 1
        flags = value[0]
        assert len(value) == 4 + (2 if flags & 1 else 0) + (4 if flags & 2 else 0)
        speed, cadence = struct.unpack_from("<HB", value, 1)
        assert speed == 0  # the app measures no speed
        assert cadence in printed, (cadence, sorted(printed))
        assert bool(flags & 0x04) == (cadence > 140)  # running above 140 spm (app.ble_task)
    gaps = [(b - a) / 1e6 for (a, _), (b, _) in itertools.pairwise(got)]
    assert all(0.9 <= g <= 1.2 for g in gaps), gaps  # 48 ticks of 20 ms


def _hello(client):
    op, status, body = client.run(client.request(HELLO))
    assert (op, status) == (HELLO | 0x80, 0)
    return body[2:18], body[18:]  # nonce, uid (docs/ble.md HELLO)


def _owner_status(client) -> dict:
    """Authenticate with the pairing secret and ask STATUS sealed, checking the answer's seal
    (docs/ble.md: direction 0x02, the request's counter)."""
    nd, _uid = _hello(client)
    nh = os.urandom(16)
    tag_h, tag_d, key = auth_tags(SECRET, nd, nh)
    op, status, body = client.run(client.request(AUTH, tag_h + nh))
    assert (op, status, body) == (AUTH | 0x80, 0, tag_d)
    op, status, body = client.run(client.request(STATUS, seal(key, STATUS, 1, b"")))
    assert (op, status) == (STATUS | 0x80, 0)
    answer = body[4:-16]
    assert body == seal(key, op, 1, answer, status, b"\x02")
    return json.loads(answer)


def test_a_stranger_is_refused_and_a_wrong_tag_changes_nothing(board):
    before = board.config()
    client = Client(board.radio)
    client.run(client.connect())
    op, status, body = client.run(client.request(STATUS))  # before any challenge
    assert (op, status) == (STATUS | 0x80, 1)  # 1: not authenticated
    nd, uid = _hello(client)
    assert uid == board.uid
    nh = os.urandom(16)
    wrong = auth_tags(b"\x55" * 32, nd, nh)[0]
    op, status, _ = client.run(client.request(AUTH, wrong + nh))
    assert (op, status) == (AUTH | 0x80, 2)  # 2: refused
    # a request sealed with the key a guessed secret gives: the link is not authenticated
    key = auth_tags(b"\x55" * 32, nd, nh)[2]
    body = json.dumps({"haptic.strength": 100}).encode()
    op, status, _ = client.run(client.request(CONFIG_SET, seal(key, CONFIG_SET, 1, body)))
    assert (op, status) == (CONFIG_SET | 0x80, 1)
    client.run(client.power_off())
    assert board.config() == before


class Relay:
    """An attacker between the owner and the board: a bumble peripheral advertising the
    board's name with a control characteristic (the owner's link), and a bumble central
    connected to the board (the attacker's link); every packet is passed on both ways."""

    def __init__(self, board):
        from bumble import gatt

        self.to_board = Client(board.radio, "attacker")
        self.device = board.radio.central("impostor", "C0:11:22:33:44:55")
        self.owner_link = None
        self.passed: list[bytes] = []
        self.tasks: set = set()  # the forwarding tasks (asyncio keeps only weak references)
        props = gatt.Characteristic.Properties
        self.ctl = gatt.Characteristic(UUID_CONTROL, props.WRITE_WITHOUT_RESPONSE | props.NOTIFY,
                                       gatt.Characteristic.WRITEABLE,
                                       gatt.CharacteristicValue(write=self._from_owner))
        self.device.add_services([gatt.Service(
            UUID("5e7a0001-8d1c-4b5e-a4f2-72657472756e"), [self.ctl])])
        self.to_board.run(self.to_board.connect())
        self.to_board.taps.append(self._from_board)
        self.device.on("connection", lambda c: setattr(self, "owner_link", c))
        self.to_board.run(self.device.start_advertising(
            advertising_data=bytes(AdvertisingData([(0x09, board.name.encode())])),
            auto_restart=False))

    def _from_owner(self, _connection, value) -> None:
        self.passed.append(bytes(value))
        self._spawn(self.to_board.control.write_value(bytes(value), with_response=False))

    def _from_board(self, value) -> None:
        if self.owner_link is not None:
            self._spawn(self.device.notify_subscriber(self.owner_link, self.ctl, bytes(value)))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def test_a_relay_of_the_owners_exchange_leaves_the_attacker_unauthenticated(board):
    before = board.config()
    relay = Relay(board)
    owner = Client(board.radio, "owner")
    owner.radio = board.radio

    async def owner_through_relay():
        owner.messages = asyncio.Queue()
        from bumble.device import Peer

        owner.connection = await owner.device.connect(relay.device.random_address, timeout=10)
        peer = Peer(owner.connection)
        await peer.request_mtu(247)  # as the laptop does: the board's answers fit one packet
        await peer.discover_services()
        for s in peer.services:
            await s.discover_characteristics()
            for ch in s.characteristics:
                await ch.discover_descriptors()
        owner.control = peer.get_characteristics_by_uuid(UUID_CONTROL)[0]
        await owner.control.subscribe(owner._on_packet)
        op, status, body = await owner.request(HELLO)
        assert (op, status) == (HELLO | 0x80, 0)
        nd = body[2:18]
        nh = os.urandom(16)
        tag_h, tag_d, key = auth_tags(SECRET, nd, nh)
        op, status, body = await owner.request(AUTH, tag_h + nh)
        assert op == AUTH | 0x80
        return status, body == tag_d, key

    status, device_proved, owner_key = owner.run(owner_through_relay(), 30)
    assert status == 0 and device_proved  # the board took the relayed answer
    assert len(relay.passed) >= 2  # the owner's HELLO and AUTH went through the attacker
    # the attacker holds the link the board authenticated, but not its key: its requests,
    # unsealed or sealed with any key it can make, are refused (2), and after the third
    # (AUTH_MAX_FAILURES) the board forgets the link's key: not authenticated (1)
    att = relay.to_board
    att.messages = asyncio.Queue()
    body = json.dumps({"haptic.strength": 0}).encode()
    statuses = []
    for payload in (body, seal(os.urandom(32), CONFIG_SET, 1, body),
                    seal(os.urandom(32), CONFIG_SET, 2, body)):
        op, status, _ = att.run(att.request(CONFIG_SET, payload))
        statuses.append((op, status))
    assert statuses == [(CONFIG_SET | 0x80, 2)] * 3
    op, status, _ = att.run(att.request(STATUS, seal(os.urandom(32), STATUS, 3, b"")))
    assert (op, status) == (STATUS | 0x80, 1)
    assert board.config() == before
    assert owner_key  # the owner could go on with K; the attacker never saw it
    owner.run(owner.power_off())
    att.run(att.power_off())
