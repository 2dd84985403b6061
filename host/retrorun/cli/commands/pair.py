"""`retrorun pair [--port P]`: share a new BLE pairing secret with the device over USB."""

from __future__ import annotations

from retrorun.cli import output
from retrorun.link.connect import add_ble_transport_argument, add_link_arguments


def register(sub) -> None:
    parser = sub.add_parser("pair", help="share a new Bluetooth pairing secret over USB",
                            description="Generate a new secret, store it on the device (over "
                                        "USB) and on this computer. Only a paired computer can "
                                        "read logs or change settings over Bluetooth; the old "
                                        "secret stops working.")
    add_link_arguments(parser, ble=False)
    parser.add_argument("--check-ble", action="store_true",
                        help="then connect over Bluetooth with the new secret to check it")
    add_ble_transport_argument(parser)
    parser.add_argument("--yes", "-y", action="store_true",
                        help="do not ask before ending a session being recorded (pairing "
                             "stops the app)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.link.ble.pairing import pair_over_serial
    from retrorun.link.connect import open_repl

    with open_repl(args, "pair") as transport:
        name, uid, path = pair_over_serial(transport)
    checked = None
    if args.check_ble or args.ble_transport:
        from retrorun.link.ble.transport import BleTransport

        with BleTransport.open(name, hci=args.ble_transport) as ble:
            checked = ble.status()["ok"] and ble.uid.hex() == uid
    if args.json:
        output.emit_json({"name": name, "uid": uid, "secrets_file": str(path),
                          "checked_over_ble": checked})
    else:
        output.console.print(f"paired with {name} (uid {uid}); the secret is kept in {path}")
        if checked:
            output.console.print(f"checked over Bluetooth: {name} answers with the new secret")
        output.console.print(f"sync without a cable: retrorun sync --ble {name}")
    return 0
