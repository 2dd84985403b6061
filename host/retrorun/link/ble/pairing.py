"""Pairing secrets on the host, and `retrorun pair`: a new secret to the device over USB.

The secrets file (`ble_secrets.json` in the user data folder, readable by the user only) maps
each device's BLE name to its secret; the BLE transport loads the secret when it connects.
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
