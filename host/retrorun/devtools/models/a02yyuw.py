"""Model of a UART ultrasonic module (DFRobot A02YYUW, JSN-SR04T mode 2/3, AJ-SR04M serial).

From the datasheets/wikis: 9600 8N1; every frame is 0xFF, distance high, distance low (mm),
checksum = (0xFF + high + low) & 0xFF. In auto mode a frame comes every ~100 ms (A02YYUW
"real-time" output; its "processed" output every 100-300 ms). In trigger mode one byte (0x55
JSN-SR04T, 0x01 AJ-SR04M) on the module's RX starts a measurement; the frame follows after the
sound's round trip plus processing. Nothing within range is sent as distance 0 (our assumption;
the driver also treats anything beyond its max range as no reading).

Faults (`fault`): "silent" (no frames: unplugged TX, dead module), "bad_checksum" (every frame's
checksum is wrong: noise on a long cable, wrong baud), "frozen" (the same frame forever: a hung
controller that keeps its UART running), "garbage" (random bytes without valid frames).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from retrorun.devtools.models.bus import UARTPort
from retrorun.devtools.models.pwm import Clock

HEADER = 0xFF  # first byte of every frame
TRIGGER_JSN = 0x55  # JSN-SR04T mode 3 (R27 = 120 k): this byte on RX starts a measurement
TRIGGER_AJ = 0x01  # AJ-SR04M serial-trigger mode
FAULTS = (None, "silent", "bad_checksum", "frozen", "garbage")
PROCESSING_US = 8_000
SOUND_MM_S = 343_420  # 20 C


class ListeningUART(UARTPort):
    """UARTPort that also tells a chip model about every byte the driver writes.

    `rxbuf`: as UARTPort's.
    """

    def __init__(self, rxbuf: int | None = None):
        super().__init__(rxbuf)
        self.on_write: list[Callable[[bytes], None]] = []

    def write(self, data) -> int:
        n = super().write(data)
        for listener in self.on_write:
            listener(bytes(data))
        return n


def frame(distance_mm: int, *, corrupt: bool = False) -> bytes:
    high, low = (distance_mm >> 8) & 0xFF, distance_mm & 0xFF
    checksum = (HEADER + high + low) & 0xFF
    if corrupt:
        checksum ^= 0x5A
    return bytes((HEADER, high, low, checksum))


class A02YYUWModel:
    """A module feeding `uart` on `clock`. `target`: mm, None, or callable(now_us).

    `clock`: a `Clock` or anything with `now_us` and `schedule(at_us, fn)` (the virtual board's
    `Hardware`). `uart`: a `ListeningUART` (hears trigger bytes by itself) or a plain `UARTPort`
    whose writes reach `received()`."""

    def __init__(self, clock: Clock, uart: UARTPort | None = None, mode: str = "auto",
                 trigger_byte: int = TRIGGER_JSN, period_ms: int = 100,
                 target: int | Callable[[int], int | None] | None = None, min_mm: int = 30,
                 max_mm: int = 4500, noise_mm: int = 0, seed: int = 1):
        self.clock = clock
        self.uart = uart if uart is not None else ListeningUART()
        self.mode = mode
        self.trigger_byte = trigger_byte
        self.period_us = period_ms * 1000
        self.target = target
        self.min_mm, self.max_mm = min_mm, max_mm
        self.noise_mm = noise_mm
        self._rng = random.Random(seed)
        self.fault: str | None = None
        self.frames_sent = 0
        self._last: bytes = frame(0)
        self._busy = False
        if mode == "auto":
            clock.schedule(clock.now_us + self.period_us, self._auto)
        elif isinstance(self.uart, ListeningUART):
            self.uart.on_write.append(self._on_rx)

    # virtual board hooks (retrorun.devtools.vboard.hw.Hardware.attach_uart): bytes are already pushed
    # into `uart` by scheduled events, so poll has nothing to do; received() hears the ESP32.
    def poll(self, hw, port) -> None:
        pass

    def received(self, hw, data: bytes) -> None:
        if self.mode == "trigger":
            self._on_rx(bytes(data))

    def distance_now(self) -> int | None:
        target = self.target
        return target(self.clock.now_us) if callable(target) else target

    def _reading(self) -> int:
        d = self.distance_now()
        if d is None or d > self.max_mm:
            return 0
        d = max(d, self.min_mm)
        if self.noise_mm:
            d += self._rng.randint(-self.noise_mm, self.noise_mm)
        return max(d, 0)

    def _emit(self) -> None:
        if self.fault == "silent":
            return
        if self.fault == "garbage":
            self.uart.feed(bytes(self._rng.choice((0x00, 0x13, 0x7E, 0xA5)) for _ in range(4)))
            return
        if self.fault == "frozen":
            data = self._last
        else:
            data = frame(self._reading(), corrupt=self.fault == "bad_checksum")
            if self.fault is None:
                self._last = data
        self.frames_sent += 1
        self.uart.feed(data)

    def _auto(self) -> None:
        self._emit()
        self.clock.schedule(self.clock.now_us + self.period_us, self._auto)

    def _on_rx(self, data: bytes) -> None:
        if self.trigger_byte not in data or self._busy:
            return
        self._busy = True
        d = self.distance_now()
        flight = round(2_000_000 * (d if d is not None else self.max_mm) / SOUND_MM_S)
        self.clock.schedule(self.clock.now_us + flight + PROCESSING_US, self._answer)

    def _answer(self) -> None:
        self._busy = False
        self._emit()
