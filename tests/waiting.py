"""Waiting on a condition in end-to-end tests (never a fixed sleep as synchronisation)."""

from __future__ import annotations

import time


def wait_until(cond, seconds: float = 60.0) -> bool:
    """Poll `cond()` every 50 ms until it is true (True) or `seconds` of real time pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def wait_for_live_lines(port: str, seconds: float = 30.0) -> None:
    """Wait until the app on `port` prints two live console lines (`@rr ...`): it runs."""
    import serial

    link = serial.serial_for_url(port, baudrate=115200, timeout=0.5)
    deadline = time.monotonic() + seconds
    try:
        seen = b""
        while seen.count(b"@rr") < 2:
            assert time.monotonic() < deadline, f"the app is not running: {seen[-300:]!r}"
            seen += link.read(4096)
    finally:
        link.close()
