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
the FIFO repeat the last sample: a hung sensor), `stuck_oflow` (INT_STATUS.FIFO_OFLOW reads set
whatever the FIFO does: seen on some MPU-6050 parts, Linux commit 6e82ae6b8d11 "fix no data on
MPU6050", which stopped trusting the bit), unplugging is the bus's business
(`I2CBus.unplugged`), and overflow happens by itself when the driver reads too late.
"""

from __future__ import annotations

from collections import deque

from retrorun.devtools.models.accel import AccelSource, SampledAccelModel, still

__all__ = ["AccelSource", "MPU6050Model", "still"]

I2C_ADDRESS = 0x68  # AD0 low (0x69 with AD0 high)
WHO_AM_I_MPU6050 = 0x68
WHO_AM_I_MPU6500 = 0x70
FIFO_BYTES_MPU6050 = 1024
FIFO_BYTES_MPU6500 = 512
# Registers (register map names; decimal numbers as the register maps list them)
SMPLRT_DIV = 0x19  # 25
CONFIG = 0x1A  # 26: DLPF_CFG 2:0; FIFO_MODE 6 (MPU-6500)
ACCEL_CONFIG = 0x1C  # 28: AFS_SEL 4:3
FIFO_EN = 0x23  # 35: ACCEL_FIFO_EN 3
INT_STATUS = 0x3A  # 58: FIFO_OFLOW_INT 4, DATA_RDY_INT 0
ACCEL_XOUT_H = 0x3B  # 59..64: X, Y, Z high byte first
USER_CTRL = 0x6A  # 106: FIFO_EN 6, FIFO_RESET 2
PWR_MGMT_1 = 0x6B  # 107: DEVICE_RESET 7, SLEEP 6, CLKSEL 2:0; resets to 0x40
FIFO_COUNTH = 0x72  # 114, FIFO_COUNTL 115
FIFO_R_W = 0x74  # 116
WHO_AM_I = 0x75  # 117


class MPU6050Model(SampledAccelModel):
    """An MPU-6050 (who_am_i 0x68) or MPU-6500 (0x70) on an I2CBus."""

    BYTEORDER = "big"

    def __init__(self, source: AccelSource = still, *, who_am_i: int = WHO_AM_I_MPU6050,
                 fifo_bytes: int | None = None, stuck_oflow: bool = False):
        super().__init__(source, who_am_i)
        self.stuck_oflow = stuck_oflow
        self.is_6500 = who_am_i == WHO_AM_I_MPU6500
        self.fifo_bytes = fifo_bytes or (FIFO_BYTES_MPU6500 if self.is_6500
                                         else FIFO_BYTES_MPU6050)
        self._power_on()

    # -- state -------------------------------------------------------------------------------
    def _power_on(self) -> None:
        self.regs = bytearray(128)
        self.regs[PWR_MGMT_1] = 0x40  # asleep
        self.fifo: deque[int] = deque()
        self._next_sample_t = self.t
        self._current = self._encode(self.source(self.t))

    @property
    def asleep(self) -> bool:
        return bool(self.regs[PWR_MGMT_1] & 0x40)

    @property
    def sample_rate_hz(self) -> float:
        dlpf = self.regs[CONFIG] & 0x07
        base = 1000.0 if 1 <= dlpf <= 6 else 8000.0
        return base / (1 + self.regs[SMPLRT_DIV])

    def _sample_rate_hz(self) -> float:
        return 0.0 if self.asleep else self.sample_rate_hz

    @property
    def lsb_per_g(self) -> int:
        return 16384 >> ((self.regs[ACCEL_CONFIG] >> 3) & 0x03)

    def _collecting(self) -> bool:
        return bool(self.regs[USER_CTRL] & 0x40
                    and self.regs[FIFO_EN] & 0x08)

    def _push(self, sample: bytes) -> None:
        if len(self.fifo) + len(sample) > self.fifo_bytes:
            self.regs[INT_STATUS] |= 0x10
            self.fifo_dropped += 1
            if self.is_6500 and self.regs[CONFIG] & 0x40:
                return  # FIFO_MODE = 1: keep the old data
            for _ in range(len(sample)):
                self.fifo.popleft()
        self.fifo.extend(sample)

    # -- bus interface ---------------------------------------------------------------------------
    def _next_read_reg(self, reg: int) -> int:
        if reg == FIFO_R_W:  # FIFO_R_W does not auto-increment
            return reg
        return self._next_reg(reg)

    def _read_byte(self, reg: int) -> int:
        if reg == WHO_AM_I:
            return self.who_am_i
        if ACCEL_XOUT_H <= reg < ACCEL_XOUT_H + 6:
            return self._current[reg - ACCEL_XOUT_H]
        if reg == INT_STATUS:
            value = self.regs[reg] | 0x01  # DATA_RDY
            self.regs[reg] = 0  # cleared on read
            return value | (0x10 if self.stuck_oflow else 0)
        if reg == FIFO_COUNTH:
            return (len(self.fifo) >> 8) & 0xFF
        if reg == FIFO_COUNTH + 1:
            return len(self.fifo) & 0xFF
        if reg == FIFO_R_W:
            return self.fifo.popleft() if self.fifo else 0xFF
        return self.regs[reg]

    def _write_byte(self, reg: int, value: int) -> None:
        if reg in (WHO_AM_I, INT_STATUS, FIFO_COUNTH,
                   FIFO_COUNTH + 1) or (
                ACCEL_XOUT_H <= reg < ACCEL_XOUT_H + 6):
            return  # read-only
        if reg == PWR_MGMT_1 and value & 0x80:
            self._power_on()
            return
        if reg == USER_CTRL and value & 0x04:
            self.fifo.clear()
            value &= ~0x04  # FIFO_RESET clears itself
        was_asleep = self.asleep
        self.regs[reg] = value
        if was_asleep and not self.asleep:
            self._next_sample_t = self.t
