"""Reaching a board: the `Transport` interface and its links.

`transport` (the interface and its errors), `serial_transport` (USB serial and pyserial URLs, the
one adapter around mpremote), `local_transport` (the firmware in MicroPython on this machine, for
tests), `ble/` (Bluetooth LE: client, pairing, the in-memory link), `devices` (port discovery),
`connect` (open the link a command asked for) and `monitor` (the app's live console lines).
"""
