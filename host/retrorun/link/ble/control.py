"""The host end of retrorun's control characteristic: the service class, framed requests and
answers, and the challenge that proves both ends hold the pairing secret (docs/ble.md).

`ControlClient(packet_buffer).request(op, payload)` sends one framed request and returns the
device's (status, answer); `authenticate(secret)` answers the device's challenge. The BLE
transport (`transport.py`) builds on it; `load_adafruit()` loads the adafruit_ble classes both
use, after the compatibility shim is installed.
"""

from __future__ import annotations

import hmac
import os

from retrofw import wire, wire_ble
from retrofw.ble.control import Reassembler, frame
from retrofw.ble.pairing import device_tag, host_tag
from retrorun.errors import RetrorunError
from retrorun.link.ble import shim


class NotPaired(RetrorunError):
    """The host has no secret for this device, or the device refused it."""


class DeviceRefused(RetrorunError):
    """The device answered a request with an error."""


def load_adafruit():
    shim.install()
    import adafruit_ble_file_transfer as ft
    from adafruit_ble.characteristics import Characteristic, ComplexCharacteristic
    from adafruit_ble.services import Service
    from adafruit_ble.uuid import VendorUUID

    return ft, Characteristic, ComplexCharacteristic, Service, VendorUUID


def control_service_class():
    """The adafruit_ble Service class of retrorun's control service (built once)."""
    global _ControlService
    if _ControlService is None:
        import _bleio

        _, characteristic, complex_characteristic, service, vendor_uuid = load_adafruit()

        class _Control(complex_characteristic):
            uuid = vendor_uuid(wire_ble.UUID_RR_CONTROL)

            def __init__(self):
                super().__init__(properties=characteristic.WRITE_NO_RESPONSE
                                 | characteristic.NOTIFY, max_length=wire_ble.BLE_PAYLOAD_MAX)

            def bind(self, service):
                bound = super().bind(service)
                return _bleio.PacketBuffer(bound, buffer_size=16,
                                           max_packet_size=wire_ble.BLE_PAYLOAD_MAX)

        class RetrorunControlService(service):
            uuid = vendor_uuid(wire_ble.UUID_RR_SERVICE)
            control = _Control()

        _ControlService = RetrorunControlService
    return _ControlService


_ControlService = None


class ControlClient:
    """Host end of the control characteristic: framed requests, answers, the challenge."""

    def __init__(self, packet_buffer):
        self.pb = packet_buffer
        self.rx = Reassembler(0xFFFF)  # answers (a long sessions list) may be large

    def request(self, op: int, payload: bytes = b"") -> tuple[int, bytes]:
        self.pb.drain()
        self.rx.reset()
        for packet in frame(op, 0, payload, self.pb.outgoing_packet_length):
            self.pb.write(packet)
        buf = bytearray(wire_ble.BLE_PAYLOAD_MAX)
        while True:
            n = self.pb.readinto(buf)
            if self.rx.feed(bytes(buf[:n])) and self.rx.op == op | wire_ble.CTL_REPLY:
                return self.rx.status, bytes(self.rx.payload())

    def authenticate(self, secret: bytes) -> None:
        status, answer = self.request(wire_ble.CTL_HELLO)
        if status != wire_ble.CTL_OK or len(answer) != 2 + wire_ble.AUTH_NONCE_SIZE:
            raise DeviceRefused("the device did not open a challenge; is it a retrorun?")
        if answer[0] != wire.PROTOCOL_VERSION:
            raise RetrorunError(f"the device speaks protocol {answer[0]}, this tool "
                                f"{wire.PROTOCOL_VERSION}; update the firmware or the tool")
        if not answer[1]:
            raise NotPaired("the device has no pairing secret; run retrorun pair over USB")
        device_nonce = answer[2:]
        host_nonce = os.urandom(wire_ble.AUTH_NONCE_SIZE)
        status, answer = self.request(wire_ble.CTL_AUTH,
                                      host_tag(secret, device_nonce, host_nonce) + host_nonce)
        if status != wire_ble.CTL_OK:
            raise NotPaired("the device refused the pairing secret "
                            f"({status_reason(status, answer)}); run retrorun pair over USB "
                            "again")
        if not hmac.compare_digest(answer, device_tag(secret, device_nonce, host_nonce)):
            raise NotPaired("the device could not prove it holds the pairing secret; it may "
                            "be an impostor: do not sync with it")


def status_reason(status: int, payload: bytes) -> str:
    name = (wire_ble.CTL_ERROR_NAMES[status] if status < len(wire_ble.CTL_ERROR_NAMES)
            else f"error {status}")
    text = payload.decode("utf-8", "replace")
    return f"{name}: {text}" if text and text != name else name

