"""Open the link a command asked for: `--port P` (serial / socket:// / rfc2217://) or `--ble NAME`."""

from __future__ import annotations

from retrorun.errors import RetrorunError
from retrorun.link.transport import Transport


def add_link_arguments(parser, *, ble: bool = True) -> None:
    parser.add_argument("--port", "-p", help="serial port or pyserial URL (socket://, "
                                             "rfc2217://); default: the only ESP32-looking port")
    if ble:
        parser.add_argument("--ble", metavar="NAME", help="use Bluetooth LE: the device name "
                                                          "(retrorun-XXXX); needs 'retrorun pair'")
        add_ble_transport_argument(parser)


def add_ble_transport_argument(parser) -> None:
    parser.add_argument("--ble-transport", metavar="SPEC",
                        help="Bluetooth through bumble's HCI transport SPEC instead of the "
                             "system's stack: a USB dongle (usb:0) or the virtual board's "
                             "radio (tcp-client:127.0.0.1:PORT, from retrorun vboard --ble-hci)")


def open_transport(args) -> Transport:
    if getattr(args, "ble", None):
        try:
            from retrorun.link.ble.transport import BleTransport
        except ImportError as exc:
            raise RetrorunError("Bluetooth LE support is not available in this install") from exc
        return BleTransport.open(args.ble, hci=getattr(args, "ble_transport", None))
    if getattr(args, "ble_transport", None):
        raise RetrorunError("--ble-transport needs --ble NAME (the device to reach over it)")
    from retrorun.link.devices import pick_port
    from retrorun.link.serial_transport import SerialTransport

    return SerialTransport(pick_port(args.port))
