"""What the MPU-6050 and LSM6DS register models share: a sampled accelerometer on an I2CBus.

`SampledAccelModel` is driven by the world: `source(t_s) -> (ax, ay, az)` in g, and
`advance(seconds)` produces the samples due in that time at the chip's output data rate,
pushing each into the FIFO while batching is on. Faults common to both: `who_am_i` (a wrong
chip) and `frozen` (the data registers and the FIFO repeat the last sample: a hung sensor).
A chip model supplies the register facts: `BYTEORDER`, `lsb_per_g`, `_sample_rate_hz()` (0 while
the chip produces nothing), `_collecting()`, `_push(sample)`, `_read_byte`/`_write_byte` and,
where addresses do not simply auto-increment, `_next_reg`/`_next_read_reg`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

AccelSource = Callable[[float], tuple[float, float, float]]


def still(t: float) -> tuple[float, float, float]:
    """A device lying flat and still: 1 g on Z."""
    return (0.0, 0.0, 1.0)


class SampledAccelModel:
    """Base of the accelerometer register models (see the module docstring)."""

    BYTEORDER: Literal["big", "little"] = "big"  # of the 16-bit output words

    def __init__(self, source: AccelSource, who_am_i: int):
        self.source = source
        self.who_am_i = who_am_i
        self.frozen = False
        self.t = 0.0
        self.samples = 0  # samples produced since power-up
        self.fifo_dropped = 0  # samples (or FIFO words) lost to overflow
        self._next_sample_t = 0.0  # both set again by the chip's power-on
        self._current = b""  # the latest sample as the output registers hold it

    @property
    def lsb_per_g(self) -> int:
        raise NotImplementedError

    def _sample_rate_hz(self) -> float:
        raise NotImplementedError

    def _collecting(self) -> bool:
        raise NotImplementedError

    def _push(self, sample: bytes) -> None:
        raise NotImplementedError

    def _read_byte(self, reg: int) -> int:
        raise NotImplementedError

    def _write_byte(self, reg: int, value: int) -> None:
        raise NotImplementedError

    def _encode(self, g: tuple[float, float, float]) -> bytes:
        out = bytearray()
        for value in g:
            raw = max(-32768, min(32767, round(value * self.lsb_per_g)))
            out += (raw & 0xFFFF).to_bytes(2, self.BYTEORDER)
        return bytes(out)

    # -- time ----------------------------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Let `seconds` pass; return the number of samples the chip produced."""
        end = self.t + seconds
        rate = self._sample_rate_hz()
        produced = 0
        if rate <= 0:
            self.t = end
            self._next_sample_t = end
            return 0
        period = 1.0 / rate
        while self._next_sample_t <= end + 1e-12:
            t = self._next_sample_t
            if not self.frozen:
                self._current = self._encode(self.source(t))
            if self._collecting():
                self._push(self._current)
            self._next_sample_t += period
            produced += 1
        self.samples += produced
        self.t = end
        return produced

    # -- bus interface ---------------------------------------------------------------------------
    def _next_reg(self, reg: int) -> int:
        return (reg + 1) & 0x7F

    def _next_read_reg(self, reg: int) -> int:
        return self._next_reg(reg)

    def read(self, register: int, count: int) -> bytes:
        out = bytearray()
        reg = register
        for _ in range(count):
            out.append(self._read_byte(reg))
            reg = self._next_read_reg(reg)
        return bytes(out)

    def write(self, register: int, data: bytes) -> None:
        reg = register
        for value in data:
            self._write_byte(reg, value)
            reg = self._next_reg(reg)
