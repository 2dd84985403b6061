"""The battery task: the cell's voltage every 10 s, its charge in the log and the status, a
low-battery cue once a minute below 3.45 V, and a clean stop (session closed, deep sleep)
below 3.3 V, before the regulator browns out in the middle of a flash write."""

import asyncio
import time

from retrofw import api, wire
from retrofw.haptics import PATTERN_LOW_BATTERY

try:
    from micropython import const
except ImportError:  # CPython (tooling only)

    def const(x):
        return x


_BATTERY_MS = const(10000)
_LOG_MS = const(300000)
_LOW_MV = const(3450)
_CRITICAL_MV = const(3300)
_LOW_CUE_MS = const(60000)


async def battery(app):
    last_cue = None
    logged_pct = -1
    logged_at = 0
    while app.running:
        now = time.ticks_ms()
        mv = int(app.adc.read_uv() * app.divider) // 1000
        app.battery_mv = mv
        # rough LiPo state of charge from the resting voltage (3.3 V empty, 4.15 V full)
        pct = max(0, min(100, (mv - 3300) * 100 // 850))
        api.live["battery_mv"] = mv
        api.live["battery_pct"] = pct
        if app.ble is not None:
            app.ble.notify_battery(pct)
        # log a change of charge, or every 5 minutes: not every reading (log density)
        if app.writer is not None and (pct != logged_pct or
                                       time.ticks_diff(now, logged_at) >= _LOG_MS):
            app.log_event(now, wire.EV_BATTERY, pct, mv)
            logged_pct = pct
            logged_at = now
        if mv < _CRITICAL_MV:
            app.sleep(now)
        elif mv < _LOW_MV and (last_cue is None or
                               time.ticks_diff(now, last_cue) >= _LOW_CUE_MS):
            app.player.cue(PATTERN_LOW_BATTERY, now)
            last_cue = now
        app.beat("battery")
        await asyncio.sleep_ms(_BATTERY_MS)
