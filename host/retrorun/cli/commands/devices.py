"""`retrorun devices [--all] [--json]`: serial ports that look like ESP32 boards."""

from __future__ import annotations

from retrorun.cli import output
from retrorun.link.devices import find_devices


def register(sub) -> None:
    parser = sub.add_parser(
        "devices", help="list serial ports that look like ESP32 boards",
        description="List serial ports whose USB vendor/product IDs belong to the bridges and "
                    "native USB of ESP32 boards (CP210x, CH34x/CH9102, FTDI, Espressif "
                    "USB-Serial/JTAG and USB-OTG), with the port, a chip guess and a "
                    "description. Pass the port to --port of the other commands.")
    parser.add_argument("--all", action="store_true", help="list every serial port")
    parser.add_argument("--ble", action="store_true",
                        help="scan for retrorun devices advertising over Bluetooth LE instead")
    parser.add_argument("--timeout", type=float, default=5.0, help="BLE scan time in seconds")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.ble:
        return run_ble(args)
    devices = find_devices(include_all=args.all)
    if args.json:
        output.emit_json({"devices": [d.as_json() for d in devices]})
        return 0
    if not devices:
        output.console.print("No serial port looks like an ESP32 board. Check the USB cable "
                             "(some are charge-only) and the bridge driver; `retrorun devices "
                             "--all` lists every port.")
        return 0
    output.table("Serial ports", ("port", "chip guess", "description", "USB"),
                 [(d.port, d.chip_guess, d.description,
                   "" if d.vid is None else f"{d.vid:04X}:{d.pid:04X} {d.usb}".strip())
                  for d in devices])
    return 0


def run_ble(args) -> int:
    from retrorun.link.ble.pairing import paired_names
    from retrorun.link.ble.transport import scan

    names = paired_names()  # by name only: the uid is told after connecting (a hint)
    found = [{"name": d["name"], "address": d["address"], "rssi": d["rssi"],
              "paired": d["name"] in names} for d in scan(args.timeout)]
    if args.json:
        output.emit_json({"devices": found})
        return 0
    if not found:
        output.console.print("No retrorun device is advertising. Press its button to wake it.")
        return 0
    output.table("Bluetooth LE", ("name", "address", "RSSI", "paired"),
                 [(d["name"], d["address"], d["rssi"], "yes" if d["paired"] else "no")
                  for d in found])
    return 0
