"""Register model of the ST LSM6DS3 and LSM6DSO accelerometers (gyro not modelled).

Behaviour follows the datasheets (LSM6DS3 DocID026899 rev 10, LSM6DSO DS12140 rev 3):
power-up with the accelerometer off (CTRL1_XL = 0); ODR_XL codes 1-10 = 12.5, 26, 52, 104, 208 ...
Hz; FS_XL codes 0/1/2/3 = +-2/16/4/8 g (16384/2048/8192/4096 LSB/g); output
words little-endian; CTRL3_C.IF_INC auto-increments register addresses.
LSM6DS3 FIFO: FIFO_CTRL3.DEC_FIFO_XL = 1 puts X, Y, Z words in the FIFO at ODR_FIFO
(FIFO_CTRL5 bits 6:3) in FIFO_MODE (bits 2:0, 6 = continuous: the oldest word is overwritten
when full and FIFO_STATUS2.OVER_RUN is set); FIFO_STATUS1/2 give the unread word count
(12 bits), FIFO_STATUS3/4 the pattern index of the next word; reads of FIFO_DATA_OUT_L/H roll
over within the pair. 8 kbyte = 4096 words.
LSM6DSO FIFO: FIFO_CTRL3.BDR_XL batches accelerometer words, FIFO_CTRL4.FIFO_MODE as above;
each word is 7 bytes (tag 0x02 << 3 | TAG_CNT << 1, then X, Y, Z); FIFO_STATUS1/2 give the
unread word count (10 bits) and FIFO_OVR_IA; reads from FIFO_DATA_OUT_TAG roll over every 7
bytes. 3 kbyte of data = 512 words. Setting FIFO_MODE to bypass empties the FIFO on both.

The world drives it (retrorun.devtools.models.accel, shared with the MPU-6050 model):
`source(t_s) -> (ax, ay, az)` in g and `advance(seconds)`. Faults:
`who_am_i`, `frozen` (data repeats), unplugging via the bus, overrun by reading too late.
"""

from __future__ import annotations

from collections import deque

from retrofw import wire
from retrorun.devtools.models.accel import AccelSource, SampledAccelModel, still

__all__ = ["AccelSource", "LSM6DSModel", "still"]

_LSB_PER_G = {0: 16384, 1: 2048, 2: 8192, 3: 4096}
_ODR_HZ = {1: 12.5, 2: 26.0, 3: 52.0, 4: 104.0, 5: 208.0, 6: 416.0, 7: 833.0, 8: 1660.0,
           9: 3330.0, 10: 6660.0}


def _odr_hz(code: int) -> float:
    return _ODR_HZ.get(code, 0.0)


class LSM6DSModel(SampledAccelModel):
    """An LSM6DS3 (who_am_i 0x69) or LSM6DSO (0x6C) on an I2CBus."""

    BYTEORDER = "little"

    def __init__(self, source: AccelSource = still, *, who_am_i: int = wire.LSM6DS3_WHO_AM_I,
                 variant: str | None = None):
        super().__init__(source, who_am_i)
        if variant is None:
            variant = "lsm6dso" if who_am_i == wire.LSM6DSO_WHO_AM_I else "lsm6ds3"
        self.variant = variant
        self.fifo_words = wire.LSMO_FIFO_WORDS if variant == "lsm6dso" else wire.LSM3_FIFO_WORDS
        self._power_on()

    def _power_on(self) -> None:
        self.regs = bytearray(128)
        self.regs[wire.LSM_REG_CTRL3_C] = 0x04  # IF_INC on by default
        self.fifo: deque[bytes] = deque()  # words: 2 bytes (DS3) or 7 bytes (DSO)
        self._pattern = 0  # DS3: index of the next word to be read (0 = X)
        self._tag_cnt = 0
        self._rd: bytes = b""  # the word being read, byte by byte
        self._rd_pos = 0
        self._next_sample_t = self.t
        self._current = self._encode(self.source(self.t))

    # -- configuration ---------------------------------------------------------------------
    @property
    def dso(self) -> bool:
        return self.variant == "lsm6dso"

    @property
    def odr_hz(self) -> float:
        return _odr_hz(self.regs[wire.LSM_REG_CTRL1_XL] >> 4)

    def _sample_rate_hz(self) -> float:
        return self.odr_hz

    @property
    def lsb_per_g(self) -> int:
        return _LSB_PER_G[(self.regs[wire.LSM_REG_CTRL1_XL] >> 2) & 0x03]

    def _fifo_mode(self) -> int:
        reg = wire.LSMO_REG_FIFO_CTRL4 if self.dso else wire.LSM3_REG_FIFO_CTRL5
        return self.regs[reg] & 0x07

    def _collecting(self) -> bool:
        if self._fifo_mode() == 0:
            return False
        if self.dso:
            return (self.regs[wire.LSMO_REG_FIFO_CTRL3] & 0x0F) != 0
        return ((self.regs[wire.LSM3_REG_FIFO_CTRL3] & 0x07) != 0
                and (self.regs[wire.LSM3_REG_FIFO_CTRL5] >> 3) & 0x0F != 0)

    def _push(self, sample: bytes) -> None:
        if self.dso:
            words = [bytes([(wire.LSMO_TAG_XL << 3) | (self._tag_cnt << 1)]) + sample]
            self._tag_cnt = (self._tag_cnt + 1) & 0x03
        else:
            words = [sample[0:2], sample[2:4], sample[4:6]]
        for word in words:
            if len(self.fifo) >= self.fifo_words:
                self.fifo.popleft()  # continuous mode: the oldest word goes
                self._pattern = (self._pattern + 1) % 3
                self.fifo_dropped += 1
                self._set_overrun()
            self.fifo.append(word)

    def _set_overrun(self) -> None:
        self.regs[wire.LSM3_REG_FIFO_STATUS2] |= 0x40

    # -- bus interface -----------------------------------------------------------------------------
    def _next_reg(self, reg: int) -> int:
        if not self.regs[wire.LSM_REG_CTRL3_C] & 0x04:
            return reg
        if not self.dso and reg == wire.LSM3_REG_FIFO_DATA_OUT_L + 1:
            return wire.LSM3_REG_FIFO_DATA_OUT_L  # rolls over within the FIFO output pair
        if self.dso and reg == wire.LSMO_REG_FIFO_DATA_OUT_TAG + 6:
            return wire.LSMO_REG_FIFO_DATA_OUT_TAG
        return (reg + 1) & 0x7F

    def _fifo_byte(self, start_reg: int, reg: int, width: int) -> int:
        pos = reg - start_reg
        if pos == 0 or not self._rd:
            self._rd = self.fifo.popleft() if self.fifo else bytes(width)
            if not self.dso and self.fifo is not None:
                self._pattern = (self._pattern + 1) % 3
        value = self._rd[pos] if pos < len(self._rd) else 0
        if pos == width - 1:
            self._rd = b""
        return value

    def _read_byte(self, reg: int) -> int:
        if reg == wire.LSM_REG_WHO_AM_I:
            return self.who_am_i
        if wire.LSM_REG_OUTX_L_XL <= reg < wire.LSM_REG_OUTX_L_XL + 6:
            return self._current[reg - wire.LSM_REG_OUTX_L_XL]
        n = len(self.fifo)
        if reg == wire.LSM3_REG_FIFO_STATUS1:
            return n & 0xFF
        if reg == wire.LSM3_REG_FIFO_STATUS2:
            flags = self.regs[reg] & 0x40
            if self.dso:
                value = flags | ((n >> 8) & 0x03)
                if n >= self.fifo_words:
                    value |= 0x20  # FIFO_FULL_IA
                self.regs[reg] &= ~0x40  # FIFO_OVR_IA reads back once
            else:
                value = flags | ((n >> 8) & 0x0F) | (0x10 if n == 0 else 0)
                if n >= self.fifo_words:
                    value |= 0x20
            return value
        if not self.dso and reg == wire.LSM3_REG_FIFO_STATUS2 + 1:
            return self._pattern & 0xFF
        if not self.dso and reg == wire.LSM3_REG_FIFO_STATUS2 + 2:
            return self._pattern >> 8
        if not self.dso and reg in (wire.LSM3_REG_FIFO_DATA_OUT_L,
                                    wire.LSM3_REG_FIFO_DATA_OUT_L + 1):
            value = self._fifo_byte(wire.LSM3_REG_FIFO_DATA_OUT_L, reg, 2)
            if not self.fifo and not self._rd:
                self.regs[wire.LSM3_REG_FIFO_STATUS2] &= ~0x40
            return value
        if self.dso and wire.LSMO_REG_FIFO_DATA_OUT_TAG <= reg < wire.LSMO_REG_FIFO_DATA_OUT_TAG + 7:
            return self._fifo_byte(wire.LSMO_REG_FIFO_DATA_OUT_TAG, reg, 7)
        return self.regs[reg]

    def _write_byte(self, reg: int, value: int) -> None:
        if reg in (wire.LSM_REG_WHO_AM_I, wire.LSM3_REG_FIFO_STATUS1, wire.LSM3_REG_FIFO_STATUS2):
            return
        if reg == wire.LSM_REG_CTRL3_C and value & 0x01:  # SW_RESET
            self._power_on()
            return
        was_rate = self.odr_hz
        self.regs[reg] = value
        mode_reg = wire.LSMO_REG_FIFO_CTRL4 if self.dso else wire.LSM3_REG_FIFO_CTRL5
        if reg == mode_reg and value & 0x07 == 0:
            self.fifo.clear()  # bypass mode empties the FIFO
            self._pattern = 0
            self._rd = b""
            self.regs[wire.LSM3_REG_FIFO_STATUS2] &= ~0x40
        if reg == wire.LSM_REG_CTRL1_XL and was_rate == 0 and self.odr_hz > 0:
            self._next_sample_t = self.t
