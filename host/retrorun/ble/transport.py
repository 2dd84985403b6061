"""The BLE transport: the same device operations as the serial link, over Bluetooth LE.

Library functions for the CLI (`retrorun devices --ble`, `sync --ble NAME`, `config --ble`,
`pair`): `scan()`, `BleTransport.open(name)`, `new_secret()` / `save_secret()` /
`load_secret()`, `pair_code()` / `pair_over_serial()`.

On CPython, `adafruit_ble` runs on `adafruit-blinka-bleio` (bleak); `shim.install()` makes the
file-transfer client work there. The transport takes a `connect()` callable returning an
adafruit_ble-like connection (`conn[ServiceClass]`, `.connected`, `.disconnect()`): a real
`BLEConnection`, or the in-memory link's `LinkConnection` in tests.

After connecting it answers the device's challenge (docs/ble.md), then:
- status(), sessions(), config_get(), config_set(changes), mark_synced(id) go over the control
  characteristic and return the same JSON objects as the serial transport (retrofw.api);
- read_file(name) reads a session through the real `adafruit_ble_file_transfer` client, resumes
  after a stall (lost packet) or a dropped link (reconnect, authenticate again) from the last
  complete chunk, and checks size and SHA-256 against what the device computed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

from retrofw import wire, wire_ble
from retrofw.ble.control import Reassembler, frame
from retrofw.ble.pairing import device_tag, host_tag
from retrorun.ble import shim
from retrorun.errors import RetrorunError

try:  # the serial helper's interface; optional so this module stands alone
    from retrorun.transport import Transport as _Base
except ImportError:  # pragma: no cover
    _Base = object  # type: ignore[assignment,misc]

SESSIONS_DIR = "/sessions"
SECRETS_FILE = "ble_secrets.json"


class NotPaired(RetrorunError):
    """The host has no secret for this device, or the device refused it."""


class DeviceRefused(RetrorunError):
    """The device answered a request with an error."""


def _adafruit():
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

        _, characteristic, complex_characteristic, service, vendor_uuid = _adafruit()

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
            raise NotPaired(f"the device refused the pairing secret ({_reason(status, answer)})"
                            "; run retrorun pair over USB again")
        if not hmac.compare_digest(answer, device_tag(secret, device_nonce, host_nonce)):
            raise NotPaired("the device could not prove it holds the pairing secret; it may "
                            "be an impostor: do not sync with it")


def _reason(status: int, payload: bytes) -> str:
    name = (wire_ble.CTL_ERROR_NAMES[status] if status < len(wire_ble.CTL_ERROR_NAMES)
            else f"error {status}")
    text = payload.decode("utf-8", "replace")
    return f"{name}: {text}" if text and text != name else name


class _ReadShadow:
    """Follows READ_DATA packets as the client reads them, keeping every complete chunk, so a
    read that fails half-way resumes where it broke (the client itself drops partial data)."""

    def __init__(self, start: int):
        self.start = start
        self.data = bytearray()
        self.good = 0  # bytes of complete chunks
        self.left = 0
        self.broken = False

    def __call__(self, packet: bytes) -> None:
        if self.broken:
            return
        if self.left == 0:
            if len(packet) < wire_ble.FT_READ_DATA_SIZE or packet[0] != wire_ble.FT_READ_DATA:
                self.broken = True
                return
            _, status, _, offset, _, length = struct.unpack_from(wire_ble.FT_READ_DATA_FMT, packet)
            if status != wire_ble.FT_OK or offset != self.start + self.good:
                self.broken = True
                return
            body = packet[wire_ble.FT_READ_DATA_SIZE:]
            self.left = length
        else:
            body = packet
        take = min(len(body), self.left)
        self.data += body[:take]
        self.left -= take
        if self.left == 0:
            self.good = len(self.data)

    def complete(self) -> bytes:
        return bytes(self.data[: self.good])


class BleTransport(_Base):  # type: ignore[misc,valid-type]
    """A retrorun device over BLE. Reconnects and authenticates again as needed."""

    def __init__(self, connect: Callable[[], object], secret: bytes | None, *, name: str = "",
                 timeout: float = 5.0, attempts: int = 8):
        self._connect = connect
        self._secret = secret
        self.name = name
        self.description = f"BLE {name}".strip()
        self.timeout = timeout
        self.attempts = attempts
        self._conn = None
        self._ft = None
        self._client = None
        self._control: ControlClient | None = None
        self.connections = 0  # connections opened (each one authenticated)
        self.resumes = 0  # reads resumed after a stall or a dropped link

    # -- opening --------------------------------------------------------------------------------
    @classmethod
    def open(cls, name: str, *, secret: bytes | None = None, scan_timeout: float = 5.0,
             timeout: float = 5.0) -> BleTransport:
        """Find `name` (retrorun-XXXX) by scanning and connect to it with the stored secret."""
        if secret is None:
            secret = load_secret(name)
        if secret is None:
            raise NotPaired(f"no pairing secret for {name}; run retrorun pair with the device "
                            "on USB first")
        found = [d for d in scan(scan_timeout) if d["name"] == name]
        if not found:
            raise RetrorunError(f"{name} is not advertising; wake it (press the button) and "
                                "keep it within a few metres")
        advertisement = found[0]["advertisement"]

        def connect():
            from adafruit_ble import BLERadio

            try:
                return BLERadio().connect(advertisement, timeout=10)
            except Exception as exc:  # bleak raises many types; all mean the same to a user
                raise RetrorunError(f"cannot connect to {name} ({exc}); move closer and "
                                    "retry") from exc

        return cls(connect, secret, name=name, timeout=timeout)

    def _open(self) -> None:
        ft, *_ = _adafruit()
        shim.CompatPacketBuffer.timeout = self.timeout
        self.close()
        conn = self._connect()
        try:
            ft_service = conn[ft.FileTransferService]
            control = conn[control_service_class()]
        except (KeyError, AttributeError) as exc:
            raise RetrorunError(f"{self.description or 'the device'} has no retrorun services "
                                "(is it a retrorun with Bluetooth enabled?)") from exc
        self._conn = conn
        self.connections += 1
        self._ft = ft_service
        self._client = ft.FileTransferClient(ft_service)
        self._control = ControlClient(control.control)
        if self._secret is None:
            self.close()
            raise NotPaired("no pairing secret for this device; run retrorun pair over USB")
        try:
            self._control.authenticate(self._secret)
        except BaseException:
            self.close()  # only an authenticated connection is kept
            raise

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    def _ensure(self) -> None:
        if self._conn is None or not self._conn.connected:
            self._open()

    def _link_errors(self):
        import _bleio

        return (shim.LinkTimeout, _bleio.ConnectionError, ConnectionError)

    def _retry(self, action: Callable[[], object], what: str) -> object:
        last: Exception | None = None
        for _ in range(self.attempts):
            try:
                self._ensure()
                return action()
            except self._link_errors() as exc:
                last = exc
                if self._conn is not None and not self._conn.connected:
                    self._conn = None
        raise RetrorunError(f"{what} over BLE failed {self.attempts} times (last: {last}); "
                            "move closer to the device and retry")

    # -- control requests -------------------------------------------------------------------------
    def _request(self, op: int, payload: bytes, what: str) -> bytes:
        def action():
            assert self._control is not None
            return self._control.request(op, payload)

        status, answer = self._retry(action, what)  # type: ignore[misc]
        if status != wire_ble.CTL_OK:
            raise DeviceRefused(f"the device refused {what}: {_reason(status, answer)}")
        return answer

    def call(self, function: str, *args: object) -> object:
        """Call a device API function by name (status, sessions, config_get, config_set,
        mark_synced), answering what the serial transport's retrofw.api call answers."""
        ops = {"status": wire_ble.CTL_STATUS, "sessions": wire_ble.CTL_SESSIONS,
               "config_get": wire_ble.CTL_CONFIG_GET, "config_set": wire_ble.CTL_CONFIG_SET,
               "mark_synced": wire_ble.CTL_MARK_SYNCED}
        if function not in ops:
            raise RetrorunError(f"{function}() is not available over BLE; use USB")
        payload = json.dumps(args[0]).encode() if args else b""
        return json.loads(self._request(ops[function], payload, function + "()"))

    def status(self) -> dict:
        return self.call("status")  # type: ignore[return-value]

    def sessions(self):
        return self.call("sessions")

    def config_get(self) -> dict:
        return self.call("config_get")  # type: ignore[return-value]

    def config_set(self, changes: dict):
        return self.call("config_set", changes)

    def mark_synced(self, session):
        return self.call("mark_synced", session)

    def why(self) -> str:
        """Why the device refused the last file-transfer request on this connection."""
        return self._request(wire_ble.CTL_WHY, b"", "why").decode("utf-8", "replace")

    def digest(self, session) -> str:
        """SHA-256 hex of a whole session file, as the device computes it."""
        name = (f"{session:06d}{wire.LOG_FILE_SUFFIX}" if isinstance(session, int)
                else str(session))
        return self.file_hash(name)[1].hex()

    def file_hash(self, name: str) -> tuple[int, bytes]:
        answer = self._request(wire_ble.CTL_FILE_HASH, name.encode(), f"the checksum of {name}")
        return struct.unpack_from("<I", answer)[0], answer[4:]

    # -- files ----------------------------------------------------------------------------------
    def read_file(self, name: str) -> bytes:
        """A whole session file (name like 000001.rrl), checked against the device's SHA-256."""
        if "/" in name or name in ("", ".", ".."):
            raise RetrorunError(f"bad session file name {name!r}")
        size, digest = self.file_hash(name)
        for _ in range(2):
            data = self._read_from(f"{SESSIONS_DIR}/{name}", 0)
            if len(data) == size and hashlib.sha256(data).digest() == digest:
                return data
        raise RetrorunError(f"{name} arrived damaged twice over BLE (size or SHA-256 differs); "
                            "sync over USB")

    def read(self, session, offset: int, size: int) -> bytes:
        """Bytes [offset, offset+size) of a session (id or file name), like the serial call."""
        name = (f"{session:06d}{wire.LOG_FILE_SUFFIX}" if isinstance(session, int)
                else str(session))
        return self._read_from(f"{SESSIONS_DIR}/{name}", offset)[:size]

    def _read_from(self, path: str, offset: int) -> bytes:
        ft, *_ = _adafruit()
        got = bytearray()
        last: BaseException | None = None
        stalls = 0
        for _ in range(self.attempts):
            try:
                self._ensure()
            except self._link_errors() as exc:
                last = exc
                self._conn = None
                continue
            raw = self._ft.raw  # type: ignore[union-attr]
            shadow = _ReadShadow(offset + len(got))
            raw.observer = shadow
            try:
                got += self._client.read(path, offset=offset + len(got))  # type: ignore[union-attr]
                return bytes(got)
            except ValueError as exc:  # the device answered READ with an error status
                last = exc
                got += shadow.complete()
                reason = self._why_or_empty()
                if "no such file" in reason or "outside" in reason:
                    raise DeviceRefused(f"the device refused to read {path}: {reason}") from exc
                if "not authenticated" in reason:
                    self._conn = None  # authenticate again on a fresh connection
            except (*self._link_errors(), ft.ProtocolError, IndexError, struct.error) as exc:
                last = exc
                got += shadow.complete()
                self.resumes += 1
                stalls += 1
                if self._conn is not None and not self._conn.connected:
                    self._conn = None
                elif stalls >= 2:
                    self.close()  # stalled twice in a row: reset both ends by reconnecting
                else:
                    raw.observer = None
                    self._flush(raw)
                continue
            finally:
                raw.observer = None
            stalls = 0
        raise RetrorunError(f"reading {path} over BLE failed {self.attempts} times (last: "
                            f"{last!r}); move closer to the device and retry")

    def _flush(self, raw) -> None:
        """After a stall: complete any request the device holds half-received (its tail was
        lost) with zero bytes, which the device refuses (NUL in a path) or drops (0x00 starts
        no request), then throw away whatever it answered. The connection stays up."""
        import time

        packets = -(-(wire_ble.FT_MOVE_SIZE + 2 * 96 + 1) // raw.outgoing_packet_length)
        try:
            for _ in range(packets):
                raw.write(bytes(raw.outgoing_packet_length))
            time.sleep(min(0.2, self.timeout))
        except self._link_errors():
            self._conn = None
        raw.drain()

    def _why_or_empty(self) -> str:
        try:
            return self.why()
        except RetrorunError:
            return ""

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.disconnect()  # type: ignore[attr-defined]
            except Exception:  # closing a dead link must not raise
                pass
        self._conn = None


# -- discovery ---------------------------------------------------------------------------------
def scan(timeout: float = 5.0) -> list[dict]:
    """Advertising devices named retrorun-*: [{"name", "address", "rssi", "advertisement"}]."""
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
            if name and name.startswith(wire_ble.BLE_NAME_PREFIX) and name not in found:
                found[name] = {"name": name, "address": str(adv.address), "rssi": adv.rssi,
                               "advertisement": adv}
        radio.stop_scan()
    except RetrorunError:
        raise
    except Exception as exc:  # bleak/BlueZ/CoreBluetooth errors vary per platform
        raise RetrorunError(f"cannot scan for Bluetooth devices ({exc}); is a Bluetooth "
                            "adapter present and switched on?") from exc
    return sorted(found.values(), key=lambda d: d["name"])


# -- pairing secrets on the host ----------------------------------------------------------------
def secrets_path() -> Path:
    from retrorun.paths import data_dir

    return data_dir() / SECRETS_FILE


def new_secret() -> bytes:
    return os.urandom(wire_ble.AUTH_SECRET_SIZE)


def _read_secrets(path: Path) -> dict | None:
    """The secrets file as {name: hex}; {} when there is none, None when it is damaged."""
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def load_secret(name: str, path: Path | None = None) -> bytes | None:
    path = path or secrets_path()
    stored = _read_secrets(path) or {}
    value = stored.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return bytes.fromhex(value)
    except ValueError:
        raise RetrorunError(f"the pairing secret for {name} in {path} is damaged; run retrorun "
                            "pair with the device on USB to make a new one") from None


def save_secret(name: str, secret: bytes, path: Path | None = None) -> Path:
    """Keep the secret for device `name` in the user data folder, readable by the user only.

    A damaged secrets file is kept beside it as *.damaged, not overwritten."""
    path = path or secrets_path()
    stored = _read_secrets(path)
    if stored is None:
        try:
            os.replace(path, path.with_name(path.name + ".damaged"))
        except OSError as exc:
            raise RetrorunError(f"the pairing secrets file {path} is damaged and cannot be moved "
                                f"aside ({exc.strerror}); move it away and pair again") from exc
        stored = {}
    stored[name] = secret.hex()
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RetrorunError(f"cannot save the pairing secret for {name} in {path} "
                            f"({exc.strerror}); make the folder writable and run retrorun pair "
                            "again") from exc
    return path


def pair_code(secret: bytes) -> str:
    """REPL code that stores `secret` on the device and prints its BLE name."""
    return ("from retrofw.ble.pairing import pair_from_hex\n"
            f"pair_from_hex({secret.hex()!r})\n"
            "from retrofw.ble.gatt import local_name\n"
            "print(local_name())\n")


def pair_over_serial(serial_transport, *, secret: bytes | None = None,
                     path: Path | None = None) -> tuple[str, Path]:
    """`retrorun pair`: a new secret to the device over USB and to the host's secret file.

    Returns (device BLE name, secrets file). The old secret stops working on both sides.
    """
    secret = secret or new_secret()
    out = serial_transport.exec(pair_code(secret)).decode("utf-8", "replace").split()
    if len(out) < 2 or out[0] != "OK" or not out[-1].startswith(wire_ble.BLE_NAME_PREFIX):
        raise RetrorunError("the device did not confirm the pairing secret; is the retrorun "
                            "firmware deployed (retrorun deploy)?")
    name = out[-1]
    return name, save_secret(name, secret, path)
