"""A central written for the tests straight on bumble (not on the project's laptop code): it
scans, connects, discovers, subscribes and speaks the control protocol as docs/ble.md states
it (packets: one byte `0x80 | seq` on a message's first packet, `seq` after; messages
`<BBH` op, status, length + payload; sealed bodies: counter `<I` + body + 16-byte tag,
HMAC-SHA256 with CPython's `hmac`). The protocol-level oracle of the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct

from bumble.core import UUID
from bumble.device import Device, Peer

# docs/ble.md
UUID_CONTROL = UUID("5e7a0002-8d1c-4b5e-a4f2-72657472756e")
UUID_LIVE = UUID("5e7a0003-8d1c-4b5e-a4f2-72657472756e")
HELLO, AUTH, STATUS, CONFIG_GET, CONFIG_SET = 0x01, 0x02, 0x03, 0x05, 0x06


def auth_tags(secret: bytes, nd: bytes, nh: bytes) -> tuple[bytes, bytes, bytes]:
    """(tag_h, tag_d, K) for the device nonce nd and host nonce nh (docs/ble.md, Security)."""
    def mac(label: bytes) -> bytes:
        return hmac.new(secret, label + nd + nh, hashlib.sha256).digest()

    return mac(b"retrorun-auth-host"), mac(b"retrorun-auth-device"), mac(b"retrorun-session-key")


def seal(key: bytes, op: int, counter: int, body: bytes, status: int = 0,
         direction: bytes = b"\x01") -> bytes:
    """A sealed body: counter + body + HMAC-SHA256(K, direction op status counter body)[:16]."""
    c = struct.pack("<I", counter)
    tag = hmac.new(key, direction + bytes((op, status)) + c + body, hashlib.sha256).digest()
    return c + body + tag[:16]


class Client:
    """One bumble central's link to the board; every call runs on the radio's bumble loop."""

    def __init__(self, radio, name: str = "tester"):
        self.radio = radio
        self.device: Device = radio.central(name)
        self.messages: asyncio.Queue | None = None
        self.live: list[bytes] = []
        self.taps: list = []  # functions called with every control packet the board sends
        self._buf = bytearray()
        self.connection = None

    def run(self, coro, timeout: float = 15.0):
        return self.radio.run(coro, timeout)

    async def scan(self, seconds: float = 1.5) -> list:
        """Every advertisement heard (bumble Advertisement objects) in `seconds`."""
        heard = []
        self.device.on("advertisement", heard.append)
        await self.device.start_scanning(active=True)
        await asyncio.sleep(seconds)
        await self.device.stop_scanning()
        self.device.remove_listener("advertisement", heard.append)
        return heard

    async def connect(self, mtu: int | None = 247) -> Peer:
        self.messages = asyncio.Queue()
        self.connection = await self.device.connect(self.radio.address, timeout=10)
        peer = Peer(self.connection)
        if mtu:
            await peer.request_mtu(mtu)
        await peer.discover_services()
        for service in peer.services:
            await service.discover_characteristics()
            for characteristic in service.characteristics:
                await characteristic.discover_descriptors()
        self.peer = peer
        control = peer.get_characteristics_by_uuid(UUID_CONTROL)
        if control:
            self.control = control[0]
            await self.control.subscribe(self._on_packet)
        return peer

    def _on_packet(self, value: bytes) -> None:
        value = bytes(value)
        for tap in self.taps:
            tap(value)
        if value[0] & 0x80:
            self._buf = bytearray(value[1:])
        else:
            self._buf += value[1:]
        if len(self._buf) >= 4:
            op, status, length = struct.unpack_from("<BBH", self._buf)
            if len(self._buf) >= 4 + length:
                self.messages.put_nowait((op, status, bytes(self._buf[4:4 + length])))
                self._buf = bytearray()

    async def send(self, op: int, payload: bytes = b"", status: int = 0) -> None:
        message = struct.pack("<BBH", op, status, len(payload)) + payload
        size = self.connection.att_mtu - 3 - 1
        for seq, start in enumerate(range(0, max(len(message), 1), size)):
            head = 0x80 | seq if seq == 0 else seq
            await self.control.write_value(bytes((head,)) + message[start:start + size],
                                           with_response=False)

    async def request(self, op: int, payload: bytes = b"", timeout: float = 5.0):
        await self.send(op, payload)
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def disconnect(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and connection.handle is not None:
            try:
                await asyncio.wait_for(connection.disconnect(), 3)
            except Exception:  # timed out, or the board left first
                pass

    async def power_off(self) -> None:
        await self.disconnect()
        await self.device.power_off()
