"""retrofw: the retrorun device package (MicroPython on ESP32).

Pure modules (no `machine`) are shared with the laptop tool, which imports them directly:
`wire` (constants, struct formats, UUIDs), `boardcheck` (board profile validator) and the
decision modules. Hardware lives under `drivers/`; `app` wires everything together.
"""
