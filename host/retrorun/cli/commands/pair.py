"""`retrorun pair [--port P]`: share a new BLE pairing secret with the device over USB."""

from __future__ import annotations

from retrorun.cli import output
from retrorun.link.connect import add_link_arguments


def register(sub) -> None:
    parser = sub.add_parser("pair", help="share a new Bluetooth pairing secret over USB",
                            description="Generate a new secret, store it on the device (over "
                                        "USB) and on this computer. Only a paired computer can "
                                        "read logs or change settings over Bluetooth; the old "
                                        "secret stops working.")
    add_link_arguments(parser, ble=False)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.link.ble.pairing import pair_over_serial
    from retrorun.link.devices import pick_port
    from retrorun.link.serial_transport import SerialTransport

    with SerialTransport(pick_port(args.port)) as transport:
        name, uid, path = pair_over_serial(transport)
    if args.json:
        output.emit_json({"name": name, "uid": uid, "secrets_file": str(path)})
    else:
        output.console.print(f"paired with {name} (uid {uid}); the secret is kept in {path}")
        output.console.print(f"sync without a cable: retrorun sync --ble {name}")
    return 0
