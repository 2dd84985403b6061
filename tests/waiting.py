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
