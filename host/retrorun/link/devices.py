"""Find serial ports that look like ESP32 boards, by the USB vendor and product IDs.

A board reaches the laptop either through a USB-UART bridge chip on the board (Silicon Labs
CP210x, WCH CH34x/CH9102, FTDI) or through the chip's own USB: the USB-Serial/JTAG controller
of the ESP32-S3/C3/C6/H2 (303A:1001), or the USB-OTG peripheral of the ESP32-S2/S3, which
shows PID = the chip's image ID in ROM download mode (303A:0002 for S2, 303A:0009 for S3) and
the TinyUSB CDC default PID 303A:4001 when an application such as MicroPython drives it.
A bridge says nothing about which ESP32 is behind it, so its chip guess stays "esp32 family".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from serial.tools import list_ports

from retrorun.errors import RetrorunError

ESPRESSIF_VID = 0x303A

# (vid, pid) -> (what the USB device is, chip guess). Sources: the bridge vendors' default
# descriptors (CP210x datasheets, WCH CH340/CH343/CH9102 datasheets, FTDI TN_100) and
# Espressif's ESP-IDF/esptool USB constants.
USB_IDS: dict[tuple[int, int], tuple[str, str]] = {
    (0x10C4, 0xEA60): ("Silicon Labs CP210x USB-UART bridge", "esp32 family"),
    (0x10C4, 0xEA70): ("Silicon Labs CP2105 dual USB-UART bridge", "esp32 family"),
    (0x10C4, 0xEA71): ("Silicon Labs CP2108 quad USB-UART bridge", "esp32 family"),
    (0x1A86, 0x7523): ("WCH CH340 USB-UART bridge", "esp32 family"),
    (0x1A86, 0x5523): ("WCH CH341 USB-UART bridge", "esp32 family"),
    (0x1A86, 0x55D3): ("WCH CH343 USB-UART bridge", "esp32 family"),
    (0x1A86, 0x55D4): ("WCH CH9102 USB-UART bridge", "esp32 family"),
    (0x0403, 0x6001): ("FTDI FT232R USB-UART bridge", "esp32 family"),
    (0x0403, 0x6010): ("FTDI FT2232 (ESP-WROVER-KIT, ESP-Prog)", "esp32 family"),
    (0x0403, 0x6014): ("FTDI FT232H USB-UART bridge", "esp32 family"),
    (0x0403, 0x6015): ("FTDI FT230X/FT231X USB-UART bridge", "esp32 family"),
    (ESPRESSIF_VID, 0x1001): ("Espressif USB-Serial/JTAG (built into the chip)",
                              "esp32s3/esp32c3/esp32c6/esp32h2"),
    (ESPRESSIF_VID, 0x0002): ("Espressif USB-OTG, ROM download mode", "esp32s2"),
    (ESPRESSIF_VID, 0x0009): ("Espressif USB-OTG, ROM download mode", "esp32s3"),
    (ESPRESSIF_VID, 0x4001): ("Espressif USB-OTG, TinyUSB CDC (e.g. MicroPython)",
                              "esp32s2/esp32s3"),
}


@dataclass(frozen=True)
class Device:
    """One serial port and what it probably is."""

    port: str
    chip_guess: str
    description: str
    usb: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    manufacturer: str | None

    def as_json(self) -> dict:
        out = asdict(self)
        out["vid"] = None if self.vid is None else f"{self.vid:04X}"
        out["pid"] = None if self.pid is None else f"{self.pid:04X}"
        return out


def classify(vid: int | None, pid: int | None) -> tuple[str, str] | None:
    """(USB device kind, chip guess) for a VID/PID pair, or None when it is not ESP32-like."""
    if vid is None or pid is None:
        return None
    known = USB_IDS.get((vid, pid))
    if known is not None:
        return known
    if vid == ESPRESSIF_VID:  # board-specific PIDs under Espressif's VID (native USB boards)
        return ("Espressif USB device", "esp32s2/esp32s3")
    return None


def find_devices(include_all: bool = False) -> list[Device]:
    """Serial ports that look like ESP32 boards (every port with `include_all`), by port name."""
    found = []
    for info in list_ports.comports():
        kind = classify(info.vid, info.pid)
        if kind is None and not include_all:
            continue
        usb, chip = kind if kind is not None else ("", "")
        description = info.description if info.description not in (None, "n/a") else info.device
        found.append(Device(
            port=info.device,
            chip_guess=chip,
            description=description,
            usb=usb,
            vid=info.vid,
            pid=info.pid,
            serial_number=info.serial_number,
            manufacturer=info.manufacturer,
        ))
    found.sort(key=lambda d: d.port)
    return found


def pick_port(port: str | None) -> str:
    """The given port, or the only ESP32-looking one. A URL must name a pyserial protocol."""
    if port:
        if "://" in port and not _known_url_protocol(port.split("://", 1)[0]):
            raise RetrorunError(f"--port {port}: unknown URL protocol; give a serial port "
                                "(retrorun devices lists them), socket://HOST:PORT or "
                                "rfc2217://HOST:PORT")
        return port
    devices = find_devices()
    if not devices:
        raise RetrorunError("no serial port looks like an ESP32 board; connect it with a data "
                            "USB cable or pass --port")
    if len(devices) > 1:
        raise RetrorunError("several ESP32-looking ports ("
                            + ", ".join(d.port for d in devices) + "); pass --port")
    return devices[0].port


def _known_url_protocol(protocol: str) -> bool:
    """Whether pyserial's serial_for_url has a handler for `protocol` (socket, rfc2217, ...)."""
    import importlib.util

    if not protocol.isidentifier():
        return False
    try:
        return importlib.util.find_spec(f"serial.urlhandler.protocol_{protocol.lower()}") is not None
    except (ImportError, ValueError):
        return False
