"""The host end of retrorun's control characteristic: the service class, framed requests and
answers, the challenge that proves both ends hold the pairing secret, and sealed requests
(docs/ble.md).

`ControlClient(packet_buffer).hello()` opens the challenge (and tells the device's uid, by which
the laptop keys its secrets); `authenticate(secret)` answers it and derives the link's session
key; `request(op, body)` then sends one sealed request and returns the device's (status, body),
checking the answer's seal and counter. The BLE transport (`transport.py`) builds on it.
"""

from __future__ import annotations

import hmac
import os
import struct
import sys
import time

from retrofw import wire_ble
from retrofw.ble.control import Reassembler, frame
from retrofw.ble.pairing import device_tag, host_tag, seal, session_key
from retrorun.errors import RetrorunError

DEFAULT_TIMEOUT = 5.0


class NotPaired(RetrorunError):
    """The host has no secret for this device, or the device refused it."""


class DeviceRefused(RetrorunError):
    """The device answered a request with an error."""


class LinkTimeout(TimeoutError):
    """No answer arrived within the timeout: the peer stalled or a packet was lost."""


class Tampered(RetrorunError):
    """An answer's seal or counter is wrong: someone between us and the device changed it."""


def control_service_class():
    """The adafruit_ble Service class of retrorun's control service (built once)."""
    global _ControlService
    if _ControlService is None:
        from adafruit_ble.characteristics import Characteristic, ComplexCharacteristic
        from adafruit_ble.services import Service
        from adafruit_ble.uuid import VendorUUID

        class _Control(ComplexCharacteristic):
            uuid = VendorUUID(wire_ble.UUID_RR_CONTROL)

            def __init__(self):
                super().__init__(properties=Characteristic.WRITE_NO_RESPONSE
                                 | Characteristic.NOTIFY, max_length=wire_ble.BLE_PAYLOAD_MAX)

            def bind(self, service):
                bound = super().bind(service)
                bleio = sys.modules["_bleio"]  # the one in use now (blinka's or bumble's)
                return bleio.PacketBuffer(bound, buffer_size=16,
                                           max_packet_size=wire_ble.BLE_PAYLOAD_MAX)

        class RetrorunControlService(Service):
            uuid = VendorUUID(wire_ble.UUID_RR_SERVICE)
            control = _Control()

        _ControlService = RetrorunControlService
    return _ControlService


_ControlService = None
_LiveService = None


def live_service_class():
    """The retrorun service seen for its live characteristic (distance, alert level, sensor,
    cadence: LIVE_FMT, notified four times a second to authenticated links only)."""
    global _LiveService
    if _LiveService is None:
        from adafruit_ble.characteristics import Characteristic, ComplexCharacteristic
        from adafruit_ble.services import Service
        from adafruit_ble.uuid import VendorUUID

        class _Live(ComplexCharacteristic):
            uuid = VendorUUID(wire_ble.UUID_RR_LIVE)

            def __init__(self):
                super().__init__(properties=Characteristic.NOTIFY, max_length=wire_ble.LIVE_SIZE)

            def bind(self, service):
                bound = super().bind(service)
                bleio = sys.modules["_bleio"]  # the one in use now (blinka's or bumble's)
                return bleio.PacketBuffer(bound, buffer_size=8,
                                           max_packet_size=wire_ble.LIVE_SIZE)

        class RetrorunLiveService(Service):
            uuid = VendorUUID(wire_ble.UUID_RR_SERVICE)
            live = _Live()

        _LiveService = RetrorunLiveService
    return _LiveService


class ControlClient:
    """Host end of the control characteristic: framed requests, the challenge, sealing."""

    def __init__(self, packet_buffer, timeout: float = DEFAULT_TIMEOUT):
        self.pb = packet_buffer
        self.timeout = timeout
        self.rx = Reassembler(0xFFFF)  # answers (a long sessions list) may be large
        self.key: bytes | None = None
        self.counter = 0
        self.uid = b""
        self._nonce = b""

    def _drain(self, buf: bytearray) -> None:
        """Throw away what a stalled exchange left (CircuitPython's readinto returns 0 when
        nothing waits; the blinka shim's blocks, so it has drain())."""
        if hasattr(self.pb, "drain"):
            self.pb.drain()
            return
        while self.pb.readinto(buf):
            pass

    def exchange(self, op: int, payload: bytes = b"") -> tuple[int, bytes]:
        """One framed message out, the answer to it back (raw: no seal)."""
        buf = bytearray(wire_ble.BLE_PAYLOAD_MAX)
        self._drain(buf)
        self.rx.reset()
        for packet in frame(op, 0, payload, self.pb.outgoing_packet_length):
            self.pb.write(packet)
        deadline = time.monotonic() + self.timeout
        while True:
            n = self.pb.readinto(buf)
            if n:
                if self.rx.feed(bytes(buf[:n])) and self.rx.op == op | wire_ble.CTL_REPLY:
                    return self.rx.status, bytes(self.rx.payload())
            elif time.monotonic() > deadline:
                raise LinkTimeout(f"no answer from the device within {self.timeout} s")
            else:
                time.sleep(0.002)

    def hello(self) -> bytes:
        """Open the challenge; returns the device's uid (bytes)."""
        status, answer = self.exchange(wire_ble.CTL_HELLO)
        if status != wire_ble.CTL_OK or len(answer) < 2 + wire_ble.AUTH_NONCE_SIZE:
            raise DeviceRefused("the device did not open a challenge; is it a retrorun?")
        if answer[0] != wire_ble.CTL_VERSION:
            raise RetrorunError(f"the device speaks control protocol {answer[0]}, this tool "
                                f"{wire_ble.CTL_VERSION}; update the firmware or the tool")
        if not answer[1]:
            raise NotPaired("the device has no pairing secret; run retrorun pair over USB")
        self._nonce = answer[2:2 + wire_ble.AUTH_NONCE_SIZE]
        self.uid = answer[2 + wire_ble.AUTH_NONCE_SIZE:]
        return self.uid

    def authenticate(self, secret: bytes) -> None:
        """Answer the challenge hello() opened; derive this link's session key."""
        if not self._nonce:
            self.hello()
        device_nonce, self._nonce = self._nonce, b""
        host_nonce = os.urandom(wire_ble.AUTH_NONCE_SIZE)
        status, answer = self.exchange(wire_ble.CTL_AUTH,
                                       host_tag(secret, device_nonce, host_nonce) + host_nonce)
        if status != wire_ble.CTL_OK:
            raise NotPaired("the device refused the pairing secret "
                            f"({status_reason(status, answer)}); run retrorun pair over USB "
                            "again")
        if not hmac.compare_digest(answer, device_tag(secret, device_nonce, host_nonce)):
            raise NotPaired("the device could not prove it holds the pairing secret; it may "
                            "be an impostor: do not sync with it")
        self.key = session_key(secret, device_nonce, host_nonce)
        self.counter = 0

    def request(self, op: int, body: bytes = b"") -> tuple[int, bytes]:
        """One sealed request; returns (status, body) of the device's sealed answer."""
        if self.key is None:
            raise NotPaired("not authenticated on this link")
        self.counter += 1
        counter = struct.pack(wire_ble.CTL_SEQ_FMT, self.counter)
        tag = seal(self.key, wire_ble.CTL_TO_DEVICE, bytes((op, 0)), counter, body)
        status, answer = self.exchange(op, counter + body + tag)
        if status in _PLAIN:
            return status, answer  # refused before the seal was checked: plain text
        got = answer[:wire_ble.CTL_SEQ_SIZE]
        inner = answer[wire_ble.CTL_SEQ_SIZE:-wire_ble.CTL_TAG_SIZE]
        want = seal(self.key, wire_ble.CTL_TO_HOST, bytes((op | wire_ble.CTL_REPLY, status)),
                    got, inner)
        if (len(answer) < wire_ble.CTL_SEQ_SIZE + wire_ble.CTL_TAG_SIZE or got != counter
                or not hmac.compare_digest(answer[-wire_ble.CTL_TAG_SIZE:], want)):
            raise Tampered("an answer from the device was not sealed with this link's key: "
                           "something between this laptop and the device changed it; stop and "
                           "sync over USB")
        return status, inner


# answers the device gives before (or instead of) opening a sealed request: never sealed
_PLAIN = (wire_ble.CTL_ERR_NOT_AUTH, wire_ble.CTL_ERR_BAD_TAG, wire_ble.CTL_ERR_LOCKED,
          wire_ble.CTL_ERR_UNKNOWN, wire_ble.CTL_ERR_BUSY)


def status_reason(status: int, payload: bytes) -> str:
    name = (wire_ble.CTL_ERROR_NAMES[status] if status < len(wire_ble.CTL_ERROR_NAMES)
            else f"error {status}")
    text = payload.decode("utf-8", "replace")
    return f"{name}: {text}" if text and text != name else name
