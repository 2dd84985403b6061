"""What the board's haptic output drives, for every board profile: one timeline of levels.

`drive_levels(hw, profile)` gives [(t_us, level)] at every change, `level` the output drive as a
fraction of full scale, 0.0-1.0: an ERM on a PWM pin (`erm_pwm`) is its duty (duty_u16 / 65535,
0 when the PWM is off); a DRV2605L is the magnitude of what its chip model drives the actuator
with (`models.drv2605`, signed drive: braking counts as drive). `HapticsWriter` appends new
points as JSON lines `{"t_s", "level"}` to a file (`retrorun vboard --haptics FILE`).
"""

from __future__ import annotations

import json
from pathlib import Path


def drive_levels(hw, profile: dict) -> list[tuple[int, float]]:
    haptic = profile.get("haptic", {})
    points: list[tuple[int, float]] = []
    if haptic.get("kind") == "erm_pwm":
        for t, _pin, freq, duty in hw.haptic_timeline(haptic["pin"]):
            points.append((t, duty / 65535 if freq else 0.0))
    elif "address" in haptic:
        bus = hw.i2c.get(profile.get("i2c", {}).get("id", 0))
        model = bus.devices.get(haptic["address"]) if bus is not None else None
        points = [(t, min(1.0, abs(float(v)))) for t, v in getattr(model, "drive_timeline", [])]
    out: list[tuple[int, float]] = []
    for t, level in points:
        level = round(level, 4)
        if out and out[-1][0] == t:
            out[-1] = (t, level)
        elif not out or out[-1][1] != level:
            out.append((t, level))
    return out


class HapticsWriter:
    """Appends the points not written yet, in virtual seconds since the board's last reset."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.write_text("")
        self._written = 0
        self._device = None

    def poll(self, device) -> None:
        if device is None:
            return
        if device is not self._device:  # a new app device: its own timeline from the start
            self._device, self._written = device, 0
        points = drive_levels(device.hw, device.profile)
        new = points[self._written:]
        if not new:
            return
        boot_us = device._boot_us
        with self.path.open("a") as f:
            for t, level in new:
                f.write(json.dumps({"t_s": round((t - boot_us) / 1e6, 6), "level": level})
                        + "\n")
        self._written = len(points)
