"""`retrorun devices`: ESP32-looking serial ports found by USB VID/PID (ports faked)."""

from __future__ import annotations

import json

import pytest
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from retrorun.cli.main import main
from retrorun.link.devices import classify, find_devices


def _usb_port(device, vid, pid, product, manufacturer, serial="0001", interface=None):
    """A ListPortInfo filled the way pyserial's Linux backend fills it for a USB device."""
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    info.product, info.manufacturer = product, manufacturer
    info.serial_number = serial
    info.location = "1-1.2:1.0"
    info.interface = interface
    info.apply_usb_info()
    return info


def _plain_port(device):
    info = ListPortInfo(device, skip_link_detection=True)
    return info


PORTS = [
    _plain_port("/dev/ttyS0"),
    _usb_port("/dev/ttyUSB1", 0x1A86, 0x55D4, "USB Single Serial", "WCH.CN", "54FC012345"),
    _usb_port("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102N USB to UART Bridge Controller",
              "Silicon Labs", "8a3c9f0e"),
    _usb_port("/dev/ttyACM0", 0x303A, 0x1001, "USB JTAG/serial debug unit", "Espressif",
              "F4:12:FA:00:11:22", interface="USB JTAG/serial debug unit"),
    _usb_port("/dev/ttyACM1", 0x2341, 0x0043, "Arduino Uno", "Arduino (www.arduino.cc)"),
    _usb_port("/dev/ttyUSB2", 0x0403, 0x6001, "FT232R USB UART", "FTDI", "A50285BI"),
    _usb_port("/dev/ttyACM2", 0x303A, 0x4001, "Board in FS mode", "MicroPython", "7cdfa1b2c3d4"),
]


@pytest.fixture
def fake_ports(monkeypatch):
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: list(PORTS))


def test_only_esp32_looking_ports_are_listed_with_a_chip_guess(fake_ports):
    devices = {d.port: d for d in find_devices()}
    assert sorted(devices) == ["/dev/ttyACM0", "/dev/ttyACM2", "/dev/ttyUSB0", "/dev/ttyUSB1",
                               "/dev/ttyUSB2"]
    assert "esp32s3" in devices["/dev/ttyACM0"].chip_guess
    assert "esp32c3" in devices["/dev/ttyACM0"].chip_guess
    assert devices["/dev/ttyUSB0"].chip_guess == "esp32 family"
    assert "CP210x" in devices["/dev/ttyUSB0"].usb
    assert "CH9102" in devices["/dev/ttyUSB1"].usb
    assert "FT232R" in devices["/dev/ttyUSB2"].usb
    assert devices["/dev/ttyUSB0"].description == "CP2102N USB to UART Bridge Controller"
    assert "esp32s3" in devices["/dev/ttyACM2"].chip_guess


def test_all_lists_every_port(fake_ports):
    ports = [d.port for d in find_devices(include_all=True)]
    assert "/dev/ttyS0" in ports and "/dev/ttyACM1" in ports and len(ports) == len(PORTS)


@pytest.mark.parametrize(("vid", "pid", "chip"), [
    (0x10C4, 0xEA60, "esp32 family"), (0x1A86, 0x7523, "esp32 family"),
    (0x1A86, 0x5523, "esp32 family"), (0x1A86, 0x55D4, "esp32 family"),
    (0x0403, 0x6001, "esp32 family"), (0x0403, 0x6015, "esp32 family"),
    (0x303A, 0x0002, "esp32s2"), (0x303A, 0x0009, "esp32s3"),
    (0x303A, 0x80D1, "esp32s2/esp32s3"),
])
def test_classify_known_ids(vid, pid, chip):
    assert classify(vid, pid)[1] == chip


def test_classify_rejects_other_and_missing_ids():
    assert classify(0x2341, 0x0043) is None
    assert classify(None, None) is None
    assert classify(0x10C4, None) is None


def test_devices_json(fake_ports, capsys):
    assert main(["devices", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_port = {d["port"]: d for d in doc["devices"]}
    assert by_port["/dev/ttyACM0"]["vid"] == "303A" and by_port["/dev/ttyACM0"]["pid"] == "1001"
    assert set(by_port["/dev/ttyUSB0"]) >= {"port", "chip_guess", "description"}
    assert "/dev/ttyS0" not in by_port


def test_devices_table_and_empty_message(fake_ports, capsys, monkeypatch):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "/dev/ttyUSB0" in out and "10C4:EA60" in out and "/dev/ttyACM1" not in out
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [_plain_port("/dev/ttyS0")])
    assert main(["devices"]) == 0
    assert "No serial port looks like an ESP32 board" in capsys.readouterr().out
