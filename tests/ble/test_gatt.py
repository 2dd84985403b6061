"""The GATT layer's pure parts (advertising data against the Core Specification's layout, the
live characteristic), pairing over USB (the REPL code run in real MicroPython) and scanning
without an adapter. The GATT server itself runs on bumble: tests/e2e/test_ble_bumble.py."""

from __future__ import annotations

import pytest
from ble_support import SECRET

from retrofw import wire, wire_ble

pytestmark = pytest.mark.ble


def ad_structures(data: bytes) -> list[tuple[int, bytes]]:
    """Split advertising data into (AD type, value): length byte, type byte, value (Core Spec
    Vol 3 Part C section 11)."""
    out = []
    i = 0
    while i < len(data):
        n = data[i]
        assert n and i + 1 + n <= len(data), data.hex()
        out.append((data[i + 1], data[i + 2:i + 1 + n]))
        i += 1 + n
    return out


@pytest.mark.parametrize("name", ["retrorun-1B2C", "x" * 20])
def test_advertising_data_fits_a_legacy_advertisement(name):
    from retrofw.ble.gatt import adv_payload

    adv, resp = adv_payload(name)
    assert len(adv) <= 31 and len(resp) <= 31  # legacy ADV_IND / SCAN_RSP AdvData
    fields = dict(ad_structures(adv))
    assert fields[0x01] == b"\x06"  # Flags: LE General Discoverable, BR/EDR not supported
    assert fields[0x03] == b"\x14\x18"  # Complete list of 16-bit UUIDs: 0x1814 (RSC)
    assert fields[0x09] == name.encode()  # Complete Local Name
    # Appearance 0x0440 (Running Walking Sensor), little endian, in the scan response
    assert dict(ad_structures(resp)) == {0x19: b"\x40\x04"}


def test_live_encoding_field_by_field():
    from retrofw.ble.gatt import encode_live

    buf = bytearray(wire_ble.LIVE_SIZE)
    assert encode_live(buf, 1234, wire.ALERT_STOP, 0, 175) == 5
    assert bytes(buf) == bytes([0xD2, 0x04, 3, 0, 175])
    encode_live(buf, -1, wire.ALERT_FAULT, wire.SENSOR_BLINDED, 999)
    assert bytes(buf) == bytes([0xFF, 0xFF, 4, 0xFB, 255])  # no distance, blinded (-5)


def test_pair_over_usb_writes_the_secret_on_the_device_and_the_host(mpy, device_fs, tmp_path):
    from retrorun.link.ble import pairing

    # the harness's machine has no unique_id: an ESP32's is its 6-byte base MAC
    board = ("import sys\nclass machine:\n    def unique_id():\n"
             "        return b'\\x24\\xa1\\x60\\x0a\\x1b\\x2c'\nsys.modules['machine'] = machine\n")

    class ReplOnMicroPython:  # what SerialTransport.exec does, on the harness
        def exec(self, code):
            result = mpy.run(board + code, fs=device_fs)
            assert result.exit_code == 0, result.stderr
            return result.stdout.encode()

    secrets = tmp_path / "secrets.json"
    name, uid, path = pairing.pair_over_serial(ReplOnMicroPython(), secret=SECRET, path=secrets)
    assert (name, uid, path) == ("retrorun-1B2C", "24a1600a1b2c", secrets)
    assert (device_fs / "ble_secret").read_bytes() == SECRET
    assert pairing.load_secret(bytes.fromhex(uid), secrets) == SECRET
    assert pairing.paired_names(secrets) == {"retrorun-1B2C"}
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    again = pairing.pair_over_serial(ReplOnMicroPython(), path=secrets)  # re-pair
    assert again[:2] == (name, uid) and pairing.load_secret(uid, secrets) != SECRET
    assert (device_fs / "ble_secret").read_bytes() == pairing.load_secret(uid, secrets)


def test_scanning_without_an_adapter_is_a_clear_error(monkeypatch):
    """This machine has no Bluetooth adapter (no BlueZ on D-Bus): bleak fails, and the user
    reads one line saying what to check."""
    from retrorun.errors import RetrorunError
    from retrorun.link.ble.transport import scan

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/retrorun-test")
    with pytest.raises(RetrorunError, match="is a Bluetooth adapter present"):
        scan(0.5)
