"""Commands that open a link, given a port URL pyserial cannot open, and BLE with bad input."""

from __future__ import annotations

import json

import pytest

from retrorun.link.ble import pairing


@pytest.mark.parametrize("argv", [
    ["status"], ["sync", "--store", "s.sqlite3"], ["config", "get"], ["pair"], ["deploy"],
    ["monitor", "--count", "1"], ["flash", "--version", "1.27.0"],
])
def test_unknown_url_protocol(fails, argv):
    err = fails([*argv, "--port", "foo://x"])
    assert err == ("retrorun: --port foo://x: unknown URL protocol; give a serial port "
                   "(retrorun devices lists them), socket://HOST:PORT or rfc2217://HOST:PORT")


def test_known_url_protocols_still_pass_to_the_link(fails):
    err = fails(["status", "--port", "socket://127.0.0.1:1"])
    assert err.startswith("retrorun: cannot reach a MicroPython board on socket://127.0.0.1:1")


def _secrets(work, content: str) -> None:
    path = work / "home" / "data" / "retrorun" / pairing.SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


@pytest.mark.parametrize("content", ["{}", '{"retrorun-ABCD": "00ff"}'])
def test_ble_with_nothing_paired_fails_before_scanning(fails, work, content):
    """An empty file, or one of the first format (keyed by name): nothing usable."""
    _secrets(work, content)
    err = fails(["status", "--ble", "retrorun-ABCD"])
    assert err == ("retrorun: no device is paired with this laptop; run retrorun pair with the "
                   "device on USB first")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_ble_secrets_file_damaged(fails, work, content):
    _secrets(work, content)
    err = fails(["sync", "--ble", "retrorun-ABCD"])
    assert err.startswith("retrorun: the pairing secrets file ")
    assert err.endswith(" is damaged; move it away and run retrorun pair with the device on USB")


@pytest.mark.parametrize("value", ["zz", 5, "01" * 5])
def test_ble_secret_damaged(tmp_path, value):
    from retrorun.errors import RetrorunError

    path = tmp_path / pairing.SECRETS_FILE
    path.write_text(json.dumps({"24a1600a1b2c": {"secret": value, "name": "retrorun-1B2C"}}))
    with pytest.raises(RetrorunError) as caught:
        pairing.load_secret(bytes.fromhex("24a1600a1b2c"), path)
    assert str(caught.value) == (f"the pairing secret for the device 24a1600a1b2c in {path} is "
                                 "damaged; run retrorun pair with the device on USB to make a "
                                 "new one")


@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_ble_scan_time_out_of_range(fails, timeout):
    err = fails(["devices", "--ble", "--timeout", timeout])
    assert err.startswith("retrorun: a scan time of ")
    assert err.endswith("s is out of range; give --timeout seconds in (0, 600], e.g. 5")


def test_pairing_keeps_a_damaged_secrets_file(tmp_path):
    path = tmp_path / pairing.SECRETS_FILE
    path.write_text('["not", "an object"]')
    pairing.save_secret("24a1600a1b2c", "retrorun-1B2C", b"\x01" * 32, path)
    assert json.loads(path.read_text()) == {"24a1600a1b2c": {"secret": "01" * 32,
                                                             "name": "retrorun-1B2C"}}
    assert (tmp_path / (pairing.SECRETS_FILE + ".damaged")).read_text() == '["not", "an object"]'


def test_pairing_keeps_other_devices_secrets(tmp_path):
    path = tmp_path / pairing.SECRETS_FILE
    path.write_text(json.dumps({"0000000000aa": {"secret": "02" * 32, "name": "retrorun-1B2C"}}))
    pairing.save_secret("24a1600a1b2c", "retrorun-1B2C", b"\x01" * 32, path)  # the same name
    assert pairing.load_secret("0000000000aa", path) == b"\x02" * 32
    assert pairing.load_secret("24a1600a1b2c", path) == b"\x01" * 32
    assert not (tmp_path / (pairing.SECRETS_FILE + ".damaged")).exists()


@pytest.mark.parametrize("baud", ["0", "-1", "99999999"])
def test_flash_baud_out_of_range(fails, baud):
    # refused before the port is opened (the port does not exist)
    err = fails(["flash", "--version", "1.27.0", "--baud", baud, "--port", "/dev/ttyNOPE"])
    assert err == (f"retrorun: --baud {baud} is out of range; give 9600-5000000 (460800 suits "
                   "most boards)")


def test_pairing_secret_that_cannot_be_saved(tmp_path):
    from retrorun.errors import RetrorunError

    path = tmp_path / "no-such-folder" / pairing.SECRETS_FILE
    with pytest.raises(RetrorunError) as caught:
        pairing.save_secret("24a1600a1b2c", "retrorun-ABCD", b"\x01" * 32, path)
    assert str(caught.value).startswith(f"cannot save the pairing secret for retrorun-ABCD in "
                                        f"{path} (")
    assert str(caught.value).endswith("make the folder writable and run retrorun pair again")
    assert not path.with_suffix(".tmp").exists()


@pytest.mark.parametrize("argv", [["sessions"], ["status", "--ble", "retrorun-ABCD"],
                                  ["vboard", "--mode", "rom"]])
def test_data_folder_cannot_be_created(fails, monkeypatch, argv):
    monkeypatch.setenv("XDG_DATA_HOME", "/proc/no-such-folder")
    err = fails(argv)
    assert err == ("retrorun: cannot create the data folder /proc/no-such-folder/retrorun (No "
                   "such file or directory); make it writable (on Linux, XDG_DATA_HOME moves it)")
