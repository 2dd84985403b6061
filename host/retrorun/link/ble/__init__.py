"""Bluetooth LE on the laptop.

The link a user syncs over: `transport` (BleTransport, scan), `control` (the control
characteristic's client, the challenge and the seals), `pairing` (secrets by uid, `retrorun
pair`), `shim` (a CircuitPython-like PacketBuffer on blinka's `_bleio`), `bleio_bumble` (a
`_bleio` on the bumble host stack: a USB dongle, a TCP loopback to the virtual board) and
`bumble_loop` (the asyncio thread bumble runs in). No radio, for fault injection and the
sync-time figures: `link` (the in-memory GATT link), `device_cores` (the device end, in CPython
or real MicroPython) and `airtime` (the timing model and its table).
"""
