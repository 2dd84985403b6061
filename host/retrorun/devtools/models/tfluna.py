"""Model of a Benewake TF-Luna LiDAR on its UART, on virtual time.

From the product manual (SJ-PM-TF-Luna): 115200 8N1; default output 100 frames/s, each frame
0x59 0x59 DistL DistH AmpL AmpH TempL TempH checksum (low 8 bits of the sum of bytes 0..7);
Dist in cm; Amp is the signal strength, unreliable below 100 and 65535 on overexposure;
temperature C = Temp / 8 - 256. Range 0.2-8 m at 90 % reflectivity (less on dark targets).
The output frequency command is 0x5A 0x06 0x03 LL HH checksum (500/n Hz, 0 = trigger mode).

Signal strength here falls with the square of distance, scaled so that a 90 %-reflective wall
gives Amp 100 at 8 m; beyond that the chip reports Dist 0. A deterministic noise of +/- 1 cm
and a few percent of Amp is added (seeded).

Faults (`fault`): "silent" (no frames), "bad_checksum" (every checksum wrong), "frozen" (the same
frame repeated, a hung chip), "overexposed" (Amp 65535: direct sunlight, a retro-reflector up
close).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from retrorun.devtools.models.a02yyuw import ListeningUART
from retrorun.devtools.models.bus import UARTPort
from retrorun.devtools.models.pwm import Clock

HEADER = 0x59  # each frame starts 0x59 0x59
FRAME_SIZE = 9
AMP_MIN = 100  # below it Dist is unreliable
AMP_OVEREXPOSED = 65535
COMMAND_HEADER = 0x5A  # commands: 0x5A, length, id, payload, checksum
ID_SAMPLE_FREQ = 0x03  # payload: frame rate in Hz, 16 bits little-endian (0 = on trigger only)
FAULTS = (None, "silent", "bad_checksum", "frozen", "overexposed")
RANGE_AT_90_MM = 8000


def frame(dist_cm: int, amp: int, temp_c: float = 25.0, *, corrupt: bool = False) -> bytes:
    temp = int((temp_c + 256) * 8)
    body = bytes((HEADER, HEADER, dist_cm & 0xFF, dist_cm >> 8, amp & 0xFF,
                  amp >> 8, temp & 0xFF, temp >> 8))
    checksum = sum(body) & 0xFF
    return body + bytes((checksum ^ (0xA5 if corrupt else 0),))


class TFLunaModel:
    """A TF-Luna feeding `uart`. `target`: mm, None, or callable(now_us) -> mm | None.

    `clock`: a `Clock` or the virtual board's `Hardware`; `uart`: a `ListeningUART` or a plain
    `UARTPort` whose writes reach `received()`."""

    def __init__(self, clock: Clock, uart: UARTPort | None = None, rate_hz: int = 100,
                 target: int | Callable[[int], int | None] | None = None,
                 reflectivity: float = 0.9, temp_c: float = 31.0, noise: bool = True,
                 seed: int = 1):
        self.clock = clock
        self.uart = uart if uart is not None else ListeningUART()
        self.target = target
        self.reflectivity = reflectivity
        self.temp_c = temp_c
        self.noise = noise
        self._rng = random.Random(seed)
        self.fault: str | None = None
        self.frames_sent = 0
        self._last = frame(0, 0, temp_c)
        self.rate_hz = 0
        self._generation = 0
        if isinstance(self.uart, ListeningUART):
            self.uart.on_write.append(self._on_rx)
        self._set_rate(rate_hz)

    # virtual board hooks (retrorun.devtools.vboard.hw.Hardware.attach_uart)
    def poll(self, hw, port) -> None:
        pass  # frames are pushed into `uart` by scheduled events

    def received(self, hw, data: bytes) -> None:
        self._on_rx(bytes(data))

    def power_cycle(self) -> None:
        """Power-on state: factory rate (100 Hz), settings not saved are lost."""
        self._set_rate(100)

    def _set_rate(self, hz: int) -> None:
        self.rate_hz = hz
        self._generation += 1
        if hz:
            generation = self._generation
            self.clock.schedule(self.clock.now_us + 1_000_000 // hz, lambda: self._tick(generation))

    def _tick(self, generation: int) -> None:
        if generation != self._generation:
            return  # the rate changed: this schedule is dead
        self._emit()
        self.clock.schedule(self.clock.now_us + 1_000_000 // self.rate_hz,
                      lambda: self._tick(generation))

    def _on_rx(self, data: bytes) -> None:
        # commands: 0x5A len id payload checksum; only ID_SAMPLE_FREQ is modelled
        if (len(data) >= 6 and data[0] == COMMAND_HEADER
                and data[2] == ID_SAMPLE_FREQ and sum(data[:-1]) & 0xFF == data[-1]):
            self.uart.feed(bytes(data))  # the chip echoes the command as its answer
            self._set_rate(data[3] | (data[4] << 8))

    def distance_now(self) -> int | None:
        target = self.target
        return target(self.clock.now_us) if callable(target) else target

    def reading(self) -> tuple[int, int]:
        """(dist_cm, amp) the chip would report now."""
        d = self.distance_now()
        if d is None or d <= 0:
            return 0, self._rng.randint(0, 40) if self.noise else 0
        amp = AMP_MIN * (RANGE_AT_90_MM / d) ** 2 * self.reflectivity / 0.9
        if self.noise:
            amp *= 1 + self._rng.uniform(-0.03, 0.03)
        amp = int(min(amp, 40000))
        if amp < AMP_MIN:
            return 0, amp
        dist_cm = round(d / 10) + (self._rng.randint(-1, 1) if self.noise else 0)
        return max(dist_cm, 0), amp

    def _emit(self) -> None:
        fault = self.fault
        if fault == "silent":
            return
        if fault == "frozen":
            data = self._last
        else:
            dist, amp = self.reading()
            if fault == "overexposed":
                amp = AMP_OVEREXPOSED
            data = frame(dist, amp, self.temp_c, corrupt=fault == "bad_checksum")
            if fault is None:
                self._last = data
        self.frames_sent += 1
        self.uart.feed(data)
