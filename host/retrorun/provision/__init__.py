"""Putting retrorun on a board: MicroPython, then the firmware and the board profile.

`boards` (the board registry from boards/*.json), `chips` (the ESP32 families and their names),
`firmware_fetch` (the official MicroPython build for a board, downloaded over HTTPS),
`build_check` and `esp_image` (that build's own checks: ESP-IDF images, SHA-256, app
descriptor), `partition_table` (the ESP-IDF table and the romfs carve-out), `flash` (esptool's
library API), `romfs` (the ROMFS image writer) and `deploy` (mpy-cross compiled firmware and
the profile, pushed over a link, after checking the board's chip).
"""
