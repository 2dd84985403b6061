"""Bluetooth LE on the laptop.

The link a user syncs over: `transport` (BleTransport, scan), `control` (the control
characteristic's client and the challenge), `pairing` (secrets, `retrorun pair`) and `shim`
(makes the file-transfer client work on blinka's `_bleio`); `bleio_bumble` (a `_bleio` on the
bumble host stack: a USB dongle, a TCP loopback to the virtual board; `bumble_loop` runs it). No radio, for tests and the sync-time
figures: `link` (the in-memory GATT link), `device_cores` (the device end, in CPython or real
MicroPython) and `airtime` (the timing model and its table).
"""
