"""Live view of a running device: reads the app's `@rr` lines from the USB console.

The app prints `@rr distance_mm level cadence steps sensor_fault battery_mv recording` twice
a second (setting `usb.live`). Reading them does not interrupt the app, unlike the raw REPL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from retrofw import wire, wire_usb
from retrorun.errors import RetrorunError

LIVE_PREFIX = wire_usb.LIVE_PREFIX.encode()


@dataclass(frozen=True)
class Live:
    distance_mm: int
    level: int
    cadence: int
    steps: int
    fault: int
    battery_mv: int
    recording: bool

    @property
    def level_name(self) -> str:
        return wire.ALERT_NAMES[self.level] if 0 <= self.level < len(wire.ALERT_NAMES) else "?"

    @property
    def fault_name(self) -> str:
        return wire.SENSOR_FAULT_NAMES[self.fault] if 0 < self.fault < len(
            wire.SENSOR_FAULT_NAMES) else ""


def parse_line(line: bytes) -> Live | None:
    """A Live from one console line, or None when it is not a live line."""
    parts = line.strip().split()
    if len(parts) != 8 or parts[0] != LIVE_PREFIX:
        return None
    try:
        d, level, cadence, steps, fault, mv, rec = (int(p) for p in parts[1:])
    except ValueError:
        return None
    return Live(d, level, cadence, steps, fault, mv, bool(rec))


def live_lines(port: str, *, timeout: float = 0.5) -> Iterator[Live | None]:
    """Yield a Live per line (None when a read times out), until the caller stops."""
    import serial

    try:
        link = serial.serial_for_url(port, baudrate=115200, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise RetrorunError(f"cannot open {port} ({exc}); check the port") from exc
    try:
        while True:
            try:
                line = link.readline()
            except (serial.SerialException, OSError) as exc:
                raise RetrorunError(f"lost {port} ({exc})") from exc
            yield parse_line(line) if line else None
    finally:
        link.close()
