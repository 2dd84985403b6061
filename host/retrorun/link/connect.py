"""Open the link a command asked for: `--port P` (serial / socket:// / rfc2217://) or `--ble NAME`.

Over serial, the running app's console requests first (`ConsoleTransport`), so looking at the
device never stops it; the raw REPL only when no app answers."""

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

    return open_serial(pick_port(args.port))


def open_serial(port: str) -> Transport:
    """The device on a serial port, its clock set to the laptop's: the running app's console
    requests when it answers them (it keeps warning and recording), else the raw REPL (the app
    is not running: nothing to stop)."""
    from retrorun.link.console_transport import ConsoleTransport
    from retrorun.link.serial_transport import SerialTransport, check_port_free

    check_port_free(port)
    console = ConsoleTransport.probe(port)
    if console is not None:
        return console
    transport = SerialTransport(port)
    transport.set_clock()
    return transport


def open_repl(args, what: str) -> Transport:
    """The raw REPL on `--port`, for operations that need it (`what`: deploy, pair, reset): they
    stop the app. A running app is asked first; ending the session it records needs a yes
    (`--yes`, or an answer at a terminal). The app starts again when the operation is done.
    The transport's `ended_recording` is the session the stop ended (None: none)."""
    import sys

    from retrorun.cli import output
    from retrorun.link.console_transport import ConsoleTransport
    from retrorun.link.devices import pick_port
    from retrorun.link.serial_transport import SerialTransport, check_port_free

    if getattr(args, "ble", None):
        raise RetrorunError(f"{what} needs USB (--port): it works at the board's REPL")
    port = pick_port(args.port)
    check_port_free(port)
    console = ConsoleTransport.probe(port)
    recording = None
    if console is not None:
        with console:
            recording = console.status().get("recording")
        if recording is not None:
            output.confirm(f"{what} stops the app, which is recording session {recording}: the "
                           "session ends there (stop the run with the button first to keep it "
                           "whole)", yes=getattr(args, "yes", False),
                           refused=f"{what} cancelled; session {recording} goes on recording")
        if sys.stderr.isatty():
            output.err_console.print(f"{what}: stopping the app (it starts again when done)")
    transport = SerialTransport(port)
    transport.set_clock()
    transport.ended_recording = recording  # the session the stop ended (None: none)
    return transport
