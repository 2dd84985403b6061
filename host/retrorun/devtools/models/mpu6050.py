"""Register model of the InvenSense MPU-6050 / MPU-6500 accelerometer (gyro not modelled).

Behaviour follows the register map (RM-MPU-6000A-00 rev 4.2, MPU-6500 register map rev 2.1):
power-up asleep (PWR_MGMT_1 = 0x40); sample rate 1 kHz / (1 + SMPLRT_DIV) with the DLPF on
(DLPF_CFG 1-6), 8 kHz with it off; AFS_SEL gives 16384 >> AFS_SEL LSB/g; accelerometer words
big-endian; the FIFO (1024 bytes on the 6050, 512 on the 6500) takes X, Y, Z of every sample
while USER_CTRL.FIFO_EN and FIFO_EN.ACCEL are set; FIFO_COUNT is a big-endian byte count;
burst reads of FIFO_R_W stream the FIFO; when the FIFO is full the oldest sample is dropped
(or, on the 6500 with CONFIG.FIFO_MODE = 1, the new one) and INT_STATUS.FIFO_OFLOW is set until
INT_STATUS is read; USER_CTRL.FIFO_RESET empties it; PWR_MGMT_1.DEVICE_RESET restores defaults.

The world drives it (retrorun.devtools.models.accel, shared with the LSM6DS model):
`source(t_s) -> (ax, ay, az)` in g, and `advance(seconds)` produces the samples due in that
time. Faults: `who_am_i` (a wrong chip), `frozen` (the data registers and
the FIFO repeat the last sample: a hung sensor), unplugging is the bus's business
(`I2CBus.unplugged`), and overflow happens by itself when the driver reads too late.
"""

from __future__ import annotations

from collections import deque

from retrofw import wire
from retrorun.devtools.models.accel import AccelSource, SampledAccelModel, still

__all__ = ["AccelSource", "MPU6050Model", "still"]


class MPU6050Model(SampledAccelModel):
    """An MPU-6050 (who_am_i 0x68) or MPU-6500 (0x70) on an I2CBus."""

    BYTEORDER = "big"

    def __init__(self, source: AccelSource = still, *, who_am_i: int = wire.MPU6050_WHO_AM_I,
                 fifo_bytes: int | None = None):
        super().__init__(source, who_am_i)
        self.is_6500 = who_am_i == wire.MPU6500_WHO_AM_I
        self.fifo_bytes = fifo_bytes or (wire.MPU6500_FIFO_BYTES if self.is_6500
                                         else wire.MPU6050_FIFO_BYTES)
        self._power_on()

    # -- state -------------------------------------------------------------------------------
    def _power_on(self) -> None:
        self.regs = bytearray(128)
        self.regs[wire.MPU_REG_PWR_MGMT_1] = 0x40  # asleep
        self.fifo: deque[int] = deque()
        self._next_sample_t = self.t
        self._current = self._encode(self.source(self.t))

    @property
    def asleep(self) -> bool:
        return bool(self.regs[wire.MPU_REG_PWR_MGMT_1] & 0x40)

    @property
    def sample_rate_hz(self) -> float:
        dlpf = self.regs[wire.MPU_REG_CONFIG] & 0x07
        base = 1000.0 if 1 <= dlpf <= 6 else 8000.0
        return base / (1 + self.regs[wire.MPU_REG_SMPLRT_DIV])

    def _sample_rate_hz(self) -> float:
        return 0.0 if self.asleep else self.sample_rate_hz

    @property
    def lsb_per_g(self) -> int:
        return 16384 >> ((self.regs[wire.MPU_REG_ACCEL_CONFIG] >> 3) & 0x03)

    def _collecting(self) -> bool:
        return bool(self.regs[wire.MPU_REG_USER_CTRL] & 0x40
                    and self.regs[wire.MPU_REG_FIFO_EN] & 0x08)

    def _push(self, sample: bytes) -> None:
        if len(self.fifo) + len(sample) > self.fifo_bytes:
            self.regs[wire.MPU_REG_INT_STATUS] |= 0x10
            self.fifo_dropped += 1
            if self.is_6500 and self.regs[wire.MPU_REG_CONFIG] & 0x40:
                return  # FIFO_MODE = 1: keep the old data
            for _ in range(len(sample)):
                self.fifo.popleft()
        self.fifo.extend(sample)

    # -- bus interface ---------------------------------------------------------------------------
    def _next_read_reg(self, reg: int) -> int:
        if reg == wire.MPU_REG_FIFO_R_W:  # FIFO_R_W does not auto-increment
            return reg
        return self._next_reg(reg)

    def _read_byte(self, reg: int) -> int:
        if reg == wire.MPU_REG_WHO_AM_I:
            return self.who_am_i
        if wire.MPU_REG_ACCEL_XOUT_H <= reg < wire.MPU_REG_ACCEL_XOUT_H + 6:
            return self._current[reg - wire.MPU_REG_ACCEL_XOUT_H]
        if reg == wire.MPU_REG_INT_STATUS:
            value = self.regs[reg] | 0x01  # DATA_RDY
            self.regs[reg] = 0  # cleared on read
            return value
        if reg == wire.MPU_REG_FIFO_COUNTH:
            return (len(self.fifo) >> 8) & 0xFF
        if reg == wire.MPU_REG_FIFO_COUNTH + 1:
            return len(self.fifo) & 0xFF
        if reg == wire.MPU_REG_FIFO_R_W:
            return self.fifo.popleft() if self.fifo else 0xFF
        return self.regs[reg]

    def _write_byte(self, reg: int, value: int) -> None:
        if reg in (wire.MPU_REG_WHO_AM_I, wire.MPU_REG_INT_STATUS, wire.MPU_REG_FIFO_COUNTH,
                   wire.MPU_REG_FIFO_COUNTH + 1) or (
                wire.MPU_REG_ACCEL_XOUT_H <= reg < wire.MPU_REG_ACCEL_XOUT_H + 6):
            return  # read-only
        if reg == wire.MPU_REG_PWR_MGMT_1 and value & 0x80:
            self._power_on()
            return
        if reg == wire.MPU_REG_USER_CTRL and value & 0x04:
            self.fifo.clear()
            value &= ~0x04  # FIFO_RESET clears itself
        was_asleep = self.asleep
        self.regs[reg] = value
        if was_asleep and not self.asleep:
            self._next_sample_t = self.t
