"""Pairing secrets on the host, and `retrorun pair`: a new secret to the device over USB.

The secrets file (`ble_secrets.json` in the user data folder, readable by the user only) maps
each device's uid (the chip's unique id, hex, as `retrorun status` shows it) to its secret and
the name it advertises: {"<uid>": {"secret": "<hex>", "name": "retrorun-XXXX"}}. A name is not an
identity (anyone can advertise it, two boards may share the last MAC bytes): the BLE transport
takes the secret for the uid the device answers HELLO with. Entries of the first format (keyed
by name, a bare hex value) are ignored: pair again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from retrofw import wire_ble
from retrorun.errors import RetrorunError

SECRETS_FILE = "ble_secrets.json"


def secrets_path() -> Path:
    from retrorun.paths import data_dir

    return data_dir() / SECRETS_FILE


def new_secret() -> bytes:
    return os.urandom(wire_ble.AUTH_SECRET_SIZE)


def _read_secrets(path: Path) -> dict | None:
    """The secrets file as {uid: {"secret", "name"}}; {} when there is none, None when it is
    damaged."""
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def _entries(path: Path) -> dict[str, dict]:
    stored = _read_secrets(path) or {}
    return {uid: entry for uid, entry in stored.items() if isinstance(entry, dict)}


def load_secret(uid: bytes | str, path: Path | None = None) -> bytes | None:
    """The secret kept for the device with this uid (bytes or hex), or None."""
    path = path or secrets_path()
    key = uid.hex() if isinstance(uid, bytes) else uid.lower()
    entry = _entries(path).get(key)
    if entry is None:
        return None
    try:
        value = entry.get("secret")
        if not isinstance(value, str) or len(value) != 2 * wire_ble.AUTH_SECRET_SIZE:
            raise ValueError
        return bytes.fromhex(value)
    except ValueError:
        raise RetrorunError(f"the pairing secret for the device {key} in {path} is damaged; run "
                            "retrorun pair with the device on USB to make a new one") from None


def require_paired(path: Path | None = None) -> None:
    """Fail at once (before a scan) when no device is paired with this laptop."""
    path = path or secrets_path()
    if _read_secrets(path) is None:
        raise RetrorunError(f"the pairing secrets file {path} is damaged; move it away and run "
                            "retrorun pair with the device on USB")
    if not _entries(path):
        raise RetrorunError("no device is paired with this laptop; run retrorun pair with the "
                            "device on USB first")


def paired_names(path: Path | None = None) -> set[str]:
    """The names the paired devices advertised when they were paired (a hint for listings)."""
    return {str(entry.get("name")) for entry in _entries(path or secrets_path()).values()}


def save_secret(uid: str, name: str, secret: bytes, path: Path | None = None) -> Path:
    """Keep the secret for the device `uid` (hex) in the user data folder, readable by the user
    only.

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
    stored[uid.lower()] = {"secret": secret.hex(), "name": name}
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
    """REPL code that stores `secret` on the device and prints its uid (hex) and BLE name."""
    return ("from retrofw.ble.pairing import pair_from_hex\n"
            f"pair_from_hex({secret.hex()!r})\n"
            "import binascii, machine\n"
            "print(binascii.hexlify(machine.unique_id()).decode())\n"
            "from retrofw.ble.gatt import local_name\n"
            "print(local_name())\n")


def pair_over_serial(serial_transport, *, secret: bytes | None = None,
                     path: Path | None = None) -> tuple[str, Path]:
    """`retrorun pair`: a new secret to the device over USB and to the host's secret file.

    Returns (device BLE name, device uid hex, secrets file). The old secret stops working on
    both sides.
    """
    secret = secret or new_secret()
    out = serial_transport.exec(pair_code(secret)).decode("utf-8", "replace").split()
    if (len(out) < 3 or out[0] != "OK" or not out[-1].startswith(wire_ble.BLE_NAME_PREFIX)
            or not _is_hex(out[-2])):
        raise RetrorunError("the device did not confirm the pairing secret; is the retrorun "
                            "firmware deployed (retrorun deploy)?")
    uid, name = out[-2].lower(), out[-1]
    return name, uid, save_secret(uid, name, secret, path)


def _is_hex(text: str) -> bool:
    try:
        return bool(bytes.fromhex(text))
    except ValueError:
        return False
