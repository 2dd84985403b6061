"""Synthetic accelerometer signals with known answers for the step-counter tests.

Everything here is deterministic (an LCG for noise, no `random`) and made on the host; the
samples go to the counter as int16 mg triplets, the format `retrorun.devtools.steps_eval` feeds it.
"""

from __future__ import annotations

import math
import struct


class Lcg:
    """Deterministic noise: uniform in [-1, 1)."""

    def __init__(self, seed: int = 1):
        self.state = seed & 0xFFFFFFFF

    def uniform(self) -> float:
        self.state = (1103515245 * self.state + 12345) & 0x7FFFFFFF
        return self.state / 0x40000000 - 1.0


def rotate(v, yaw_deg: float, pitch_deg: float):
    """The body-frame vector v (x fore-aft, y left, z up) as a tilted sensor sees it."""
    x, y, z = v
    a = math.radians(yaw_deg)
    x, y = x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)
    b = math.radians(pitch_deg)
    x, z = x * math.cos(b) + z * math.sin(b), -x * math.sin(b) + z * math.cos(b)
    return (x, y, z)


def pack(samples) -> bytes:
    out = bytearray()
    for x, y, z in samples:
        out += struct.pack("<hhh", *(max(-16000, min(16000, round(c))) for c in (x, y, z)))
    return bytes(out)


def gait(rate_hz: int, step_times, *, impact_mg: float = 450.0, sway_mg: float = 120.0,
         width_s: float = 0.06, noise_mg: float = 15.0, duration_s: float | None = None,
         orientation=(20.0, 10.0), backward: bool = False, seed: int = 1):
    """Walking/running at the given step times (s): an impact per step, fore-aft and sideways
    sway, sensor noise; 1 g on the body's up axis. Returns (x, y, z) mg samples."""
    noise = Lcg(seed)
    end = duration_s if duration_s is not None else (step_times[-1] + 2.0 if step_times else 5.0)
    n = int(end * rate_hz)
    out = []
    # index of the nearest steps, for speed
    times = list(step_times)
    k = 0
    for i in range(n):
        t = i / rate_hz
        while k + 1 < len(times) and times[k + 1] <= t:
            k += 1
        up = 1000.0
        fore = 0.0
        side = 0.0
        for j in (k - 1, k, k + 1):
            if 0 <= j < len(times):
                dt = t - times[j]
                nxt = times[j + 1] - times[j] if j + 1 < len(times) else 0.6
                if -0.3 < dt < nxt:
                    # impact then the body's rise and fall over the step
                    up += impact_mg * math.exp(-((dt / width_s) ** 2))
                    if 0 <= dt < nxt:
                        up -= 0.35 * impact_mg * math.sin(math.pi * dt / nxt) ** 2
                    sign = -1.0 if backward else 1.0
                    fore += sign * 0.4 * impact_mg * math.exp(-(((dt - 0.05) / width_s) ** 2))
                    side += (sway_mg if j % 2 else -sway_mg) * math.sin(
                        math.pi * max(0.0, min(1.0, dt / nxt)))
        v = rotate((fore, side, up), *orientation)
        out.append(tuple(c + noise_mg * noise.uniform() for c in v))
    return out


def steps_at(start_s: float, count: int, cadence_spm: float, jitter: float = 0.03,
             seed: int = 7):
    """`count` step times from `start_s` at `cadence_spm` with a little timing jitter."""
    noise = Lcg(seed)
    period = 60.0 / cadence_spm
    return [start_s + i * period + jitter * period * noise.uniform() for i in range(count)]


def standing(rate_hz: int, duration_s: float, *, noise_mg: float = 15.0, seed: int = 3):
    """Standing still: gravity, slow sway of the trunk, sensor noise."""
    noise = Lcg(seed)
    out = []
    for i in range(int(duration_s * rate_hz)):
        t = i / rate_hz
        sway = 3.0 * math.sin(2 * math.pi * 0.25 * t)
        v = rotate((0.0, 0.0, 1000.0), 15.0, 8.0 + sway)
        out.append(tuple(c + noise_mg * noise.uniform() for c in v))
    return out


def fidget(rate_hz: int, duration_s: float = 30.0, seed: int = 5):
    """Standing, then shifting weight, a few irregular bumps, turning the trunk, bending."""
    noise = Lcg(seed)
    bumps = [(8.0, 350.0), (8.9, 250.0), (10.6, 400.0), (13.0, 300.0), (13.4, 200.0)]
    out = []
    for i in range(int(duration_s * rate_hz)):
        t = i / rate_hz
        pitch = 8.0 + (25.0 * math.sin(math.pi * (t - 16.0) / 3.0) if 16.0 <= t < 19.0 else 0.0)
        yaw = 15.0 + (40.0 * (t - 20.0) / 2.0 if 20.0 <= t < 22.0 else (40.0 if t >= 22.0 else 0))
        up = 1000.0 + sum(a * math.exp(-(((t - c) / 0.08) ** 2)) for c, a in bumps)
        v = rotate((0.0, 0.0, up), yaw, pitch)
        out.append(tuple(c + 15.0 * noise.uniform() for c in v))
    return out


def vehicle(rate_hz: int, kind: str, duration_s: float = 60.0, seed: int = 11):
    """Riding: 'car' (engine/road vibration, irregular bumps), 'bike' (pedalling sway at
    80 rpm, road buzz), 'train' (rail joints about once a second, sway, vibration)."""
    noise = Lcg(seed)
    bump_times = []
    t = 1.0
    while t < duration_s:
        if kind == "train":
            t += 1.1 + 0.05 * noise.uniform()
        else:
            t += 0.8 + 2.0 * (noise.uniform() + 1.0)
        bump_times.append(t)
    out = []
    for i in range(int(duration_s * rate_hz)):
        t = i / rate_hz
        vib_hz = {"car": 14.0, "bike": 19.0, "train": 9.0}[kind]
        up = 1000.0 + 60.0 * math.sin(2 * math.pi * vib_hz * t) * (0.7 + 0.3 * noise.uniform())
        side = 40.0 * math.sin(2 * math.pi * 0.4 * t)
        fore = 30.0 * math.sin(2 * math.pi * 0.15 * t)
        if kind == "bike":
            up += 60.0 * math.sin(2 * math.pi * (80.0 / 60.0) * 2 * t)
            side += 50.0 * math.sin(2 * math.pi * (80.0 / 60.0) * t)
        for c in bump_times:
            dt = t - c
            if 0 <= dt < 0.6:
                amp = {"car": 150.0, "bike": 120.0, "train": 80.0}[kind]
                up += amp * math.exp(-dt / 0.12) * math.cos(2 * math.pi * 4.0 * dt)
        v = rotate((fore, side, up), 10.0, 12.0)
        out.append(tuple(c + 20.0 * noise.uniform() for c in v))
    return out
