"""The BLE transport: the same device operations as the serial link, over Bluetooth LE.

Library functions for the CLI (`retrorun devices --ble`, `sync --ble NAME`, `config --ble`):
`scan()`, `BleTransport.open(name)`. Pairing secrets and `retrorun pair` are in `pairing.py`,
the control characteristic's client and the challenge in `control.py`.

The transport takes a `connect()` callable returning an adafruit_ble-like connection
(`conn[ServiceClass]`, `.connected`, `.disconnect()`): a real `BLEConnection` (on the OS stack
through adafruit-blinka-bleio, or on a bumble HCI transport through `bleio_bumble`), or the
in-memory link's `LinkConnection` in tests.

After connecting it asks HELLO (the device's uid), takes the secret kept for that uid and
answers the challenge (docs/ble.md). Then every operation is one sealed control request:
status, sessions, config_get, config_set, mark_synced answer the same JSON objects as the serial
transport (retrofw.api); `read(session, offset, size)` returns bytes checked by the CRC-32 the
device sent with them, as the USB API's chunks, so `retrorun sync` is the same code on both
links and resumes from the last stored chunk. A dropped link is reconnected and authenticated
again; a stalled answer is asked again.
"""

from __future__ import annotations

import binascii
import json
import struct
from collections.abc import Callable

from retrofw import wire_ble
from retrorun.errors import RetrorunError
from retrorun.link.ble import shim
from retrorun.link.ble.control import (
    ControlClient,
    DeviceRefused,
    LinkTimeout,
    NotPaired,
    control_service_class,
    live_service_class,
    status_reason,
)
from retrorun.link.ble.pairing import load_secret, require_paired
from retrorun.link.transport import NeedsConfirmation, TransferError, Transport

__all__ = ["BleTransport", "NeedsConfirmation", "scan"]

_OPS = {"status": wire_ble.CTL_STATUS, "sessions": wire_ble.CTL_SESSIONS,
        "config_get": wire_ble.CTL_CONFIG_GET, "config_set": wire_ble.CTL_CONFIG_SET,
        "mark_synced": wire_ble.CTL_MARK_SYNCED}


class BleTransport(Transport):
    """A retrorun device over BLE. Reconnects and authenticates again as needed.

    secrets: the pairing secret (bytes), or a function uid -> secret or None (the laptop's
    secrets file: `pairing.load_secret`).
    """

    def __init__(self, connect: Callable[[], object],
                 secrets: bytes | Callable[[bytes], bytes | None] | None, *, name: str = "",
                 timeout: float = 5.0, attempts: int = 8):
        self._connect = connect
        self._secrets = secrets
        self.name = name
        self.description = f"BLE {name}".strip()
        self.timeout = timeout
        self.attempts = attempts
        self.uid = b""
        self._conn = None
        self._control: ControlClient | None = None
        self.connections = 0  # connections opened (each one authenticated)
        self.resumes = 0  # requests asked again after a stall, a damaged chunk or a dropped link

    # -- opening --------------------------------------------------------------------------------
    @classmethod
    def open(cls, name: str, *, scan_timeout: float = 5.0, timeout: float = 5.0,
             hci: str | None = None) -> BleTransport:
        """Find `name` (retrorun-XXXX) by scanning and connect to the one whose uid has a
        secret on this laptop (two devices may advertise one name). `hci`: a bumble HCI
        transport spec to use instead of the OS's Bluetooth stack."""
        require_paired()
        if hci is not None:
            from retrorun.link.ble import bleio_bumble

            if bleio_bumble.installed() is None:
                bleio_bumble.install(hci)
        found = [d for d in scan(scan_timeout) if d["name"] == name]
        if not found:
            raise RetrorunError(f"{name} is not advertising; wake it (press the button) and "
                                "keep it within a few metres")
        last: RetrorunError | None = None
        for entry in found:
            transport = cls(_connector(name, entry["advertisement"]), load_secret, name=name,
                            timeout=timeout)
            try:
                transport._ensure()
                return transport
            except NotPaired as exc:  # another device with the same name: try the next
                last = exc
        assert last is not None
        raise last

    def _secret_for(self, uid: bytes) -> bytes | None:
        if callable(self._secrets):
            return self._secrets(uid)
        return self._secrets

    def _open(self) -> None:
        self.close()
        conn = self._connect()
        try:
            control = conn[control_service_class()]  # type: ignore[index]
        except (KeyError, AttributeError) as exc:
            raise RetrorunError(f"{self.description or 'the device'} has no retrorun control "
                                "service (is it a retrorun with Bluetooth enabled?)") from exc
        self._conn = conn
        self.connections += 1
        client = ControlClient(control.control, self.timeout)
        try:
            uid = client.hello()
            secret = self._secret_for(uid)
            if secret is None:
                raise NotPaired(f"no pairing secret for the device {uid.hex() or '?'} "
                                f"({self.name or 'this device'}) on this laptop; connect it by "
                                "USB and run retrorun pair")
            client.authenticate(secret)
        except BaseException:
            self.close()  # only an authenticated connection is kept
            raise
        self.uid = uid
        self._control = client

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    def _ensure(self) -> None:
        if self._conn is None or not self._conn.connected or self._control is None:
            self._open()

    @staticmethod
    def _link_errors() -> tuple[type[BaseException], ...]:
        import _bleio

        return (LinkTimeout, _bleio.ConnectionError, ConnectionError)

    def _request(self, op: int, body: bytes, what: str) -> bytes:
        """One sealed request, asked again after a stall or on a new link after a drop."""
        last: BaseException | None = None
        for attempt in range(self.attempts):
            try:
                self._ensure()
                assert self._control is not None
                status, answer = self._control.request(op, body)
            except self._link_errors() as exc:
                last = exc
                self.resumes += attempt < self.attempts - 1
                if self._conn is not None and not self._conn.connected:
                    self._conn = None
                continue
            if status == wire_ble.CTL_ERR_BUSY:
                last = DeviceRefused("the device is busy")
                continue
            if status in (wire_ble.CTL_ERR_NOT_AUTH, wire_ble.CTL_ERR_LOCKED):
                self.close()  # the device forgot this link's key: authenticate on a new link
                last = DeviceRefused(status_reason(status, answer))
                continue
            if status == wire_ble.CTL_ERR_CONFIRM:
                raise NeedsConfirmation(json.loads(answer))
            if status != wire_ble.CTL_OK:
                raise DeviceRefused(f"the device refused {what}: {status_reason(status, answer)}")
            return answer
        raise RetrorunError(f"{what} over BLE failed {self.attempts} times (last: {last}); "
                            "move closer to the device and retry")

    # -- the Transport interface ----------------------------------------------------------------
    def call(self, function: str, *args: object) -> dict:
        """Call a device API function by name (status, sessions, config_get, config_set,
        mark_synced), answering what the serial transport's retrofw.api call answers."""
        if function not in _OPS:
            raise RetrorunError(f"{function}() is not available over BLE; use USB")
        body = json.dumps(args[0]).encode() if args else b""
        return json.loads(self._request(_OPS[function], body, function + "()"))

    def file_hash(self, session: int) -> tuple[int, bytes]:
        """(size, SHA-256) of a whole session file, as the device computes them."""
        answer = self._request(wire_ble.CTL_FILE_HASH, struct.pack("<I", session),
                               f"the checksum of session {session}")
        return struct.unpack_from("<I", answer)[0], answer[4:]

    def digest(self, session: int) -> str:
        return self.file_hash(session)[1].hex()

    def read(self, session: int, offset: int, size: int) -> bytes:
        """Bytes [offset, offset + size) of a session (fewer at its end), each piece checked
        against the CRC-32 the device computed; a damaged piece raises TransferError."""
        out = bytearray()
        while len(out) < size:
            at = offset + len(out)
            want = min(size - len(out), wire_ble.CTL_READ_MAX)
            answer = self._request(wire_ble.CTL_READ,
                                   struct.pack(wire_ble.CTL_READ_FMT, session, at, want),
                                   f"reading session {session}")
            if len(answer) < wire_ble.CTL_DATA_SIZE:
                raise TransferError(f"a short answer to a read of session {session}")
            got_at, crc = struct.unpack_from(wire_ble.CTL_DATA_FMT, answer)
            data = answer[wire_ble.CTL_DATA_SIZE:]
            if got_at != at or binascii.crc32(data) != crc or len(data) > want:
                self.resumes += 1
                raise TransferError(f"session {session} at {at}: the chunk failed its CRC-32")
            if not data:
                break  # the end of the file
            out += data
        return bytes(out)

    def live(self, *, timeout: float = 0.5):
        """Yield a `monitor.Live` per notification of the live characteristic (None when none
        came within `timeout`), until the caller stops. Steps, battery and recording are not in
        the live characteristic: -1, -1, False."""
        import time

        from retrorun.link.monitor import Live

        self._ensure()
        pb = self._conn[live_service_class()].live  # type: ignore[index]
        buf = bytearray(wire_ble.BLE_PAYLOAD_MAX)
        while True:
            deadline = time.monotonic() + timeout
            n = 0
            while not n and time.monotonic() < deadline:
                try:
                    n = pb.readinto(buf)
                except LinkTimeout:
                    break
                if not n:
                    time.sleep(0.01)
            if n < wire_ble.LIVE_SIZE:
                if self._conn is None or not self._conn.connected:
                    raise RetrorunError(f"lost {self.description} (the Bluetooth link dropped)")
                yield None
                continue
            distance, level, sensor, cadence = struct.unpack_from(wire_ble.LIVE_FMT, buf)
            yield Live(-1 if distance == wire_ble.LIVE_NO_DISTANCE else distance, level,
                       cadence, -1, -sensor if sensor < 0 else 0, -1, False)

    def config_set(self, changes: dict) -> dict:
        """Save changes; one that weakens warnings raises NeedsConfirmation (its answer says
        which keys and for how long the device waits for its button)."""
        return self.call("config_set", changes)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.disconnect()  # type: ignore[attr-defined]
            except Exception:  # closing a dead link must not raise
                pass
        self._conn = None
        self._control = None


def _connector(name: str, advertisement) -> Callable[[], object]:
    def connect():
        from adafruit_ble import BLERadio

        try:
            return BLERadio().connect(advertisement, timeout=10)
        except Exception as exc:  # bleak and bumble raise many types; all mean the same
            raise RetrorunError(f"cannot connect to {name} ({exc}); move closer and "
                                "retry") from exc

    return connect


# -- discovery ---------------------------------------------------------------------------------
def scan(timeout: float = 5.0) -> list[dict]:
    """Advertising retrorun devices: [{"name", "address", "rssi", "advertisement"}], one entry
    per address (two devices may share a name)."""
    if not 0 < timeout <= 600:
        raise RetrorunError(f"a scan time of {timeout} s is out of range; give --timeout "
                            "seconds in (0, 600], e.g. 5")
    shim.install()
    try:
        from adafruit_ble import BLERadio
        from adafruit_ble.advertising.standard import Advertisement

        radio = BLERadio()
        found: dict[str, dict] = {}
        for adv in radio.start_scan(Advertisement, timeout=timeout):
            name = adv.complete_name or adv.short_name
            address = str(adv.address)
            if name and name.startswith(wire_ble.BLE_NAME_PREFIX) and address not in found:
                found[address] = {"name": name, "address": address, "rssi": adv.rssi,
                                  "advertisement": adv}
        radio.stop_scan()
    except RetrorunError:
        raise
    except Exception as exc:  # bleak/BlueZ/CoreBluetooth errors vary per platform
        raise RetrorunError(f"cannot scan for Bluetooth devices ({exc}); is a Bluetooth "
                            "adapter present and switched on?") from exc
    return sorted(found.values(), key=lambda d: (d["name"], d["address"]))
