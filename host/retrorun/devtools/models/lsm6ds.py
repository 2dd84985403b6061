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

from retrorun.devtools.models.accel import AccelSource, SampledAccelModel, still

__all__ = ["AccelSource", "LSM6DSModel", "still"]

I2C_ADDRESS = 0x6A  # SA0 low (0x6B with SA0 high)
WHO_AM_I_LSM6DS3 = 0x69
WHO_AM_I_LSM6DSO = 0x6C
WHO_AM_I_LSM6DS3TRC = 0x6A  # LSM6DS3TR-C: LSM6DS3 FIFO registers, 4 kbyte FIFO (datasheet)
DS3TRC_FIFO_WORDS = 4096 // 2
# Registers (datasheet names; the LSM6DSO calls OUTX_L_XL OUTX_L_A)
WHO_AM_I = 0x0F
CTRL1_XL = 0x10  # ODR_XL 7:4, FS_XL 3:2
CTRL3_C = 0x12  # BOOT 7, BDU 6, IF_INC 2 (set at reset), SW_RESET 0
OUTX_L_XL = 0x28  # 0x28..0x2D: X, Y, Z low byte first
FIFO_STATUS1 = 0x3A  # both: DIFF_FIFO low byte
FIFO_STATUS2 = 0x3B  # both: overrun flag bit 6 (DS3 OVER_RUN, DSO FIFO_OVR_IA)
# LSM6DS3 (DocID026899 section 9)
DS3_FIFO_CTRL3 = 0x08  # DEC_FIFO_XL 2:0
DS3_FIFO_CTRL5 = 0x0A  # ODR_FIFO 6:3, FIFO_MODE 2:0
DS3_FIFO_DATA_OUT_L = 0x3E  # and FIFO_DATA_OUT_H 0x3F; FIFO_STATUS3/4 (0x3C/0x3D) pattern
DS3_FIFO_WORDS = 4096  # 8 kbyte of 16-bit words
# LSM6DSO (DS12140 section 9)
DSO_FIFO_CTRL3 = 0x09  # BDR_GY 7:4, BDR_XL 3:0
DSO_FIFO_CTRL4 = 0x0A  # FIFO_MODE 2:0
DSO_FIFO_DATA_OUT_TAG = 0x78  # tag byte then 0x79..0x7E: X, Y, Z
DSO_TAG_ACCEL = 0x02  # TAG_SENSOR (tag bits 7:3) of accelerometer words
DSO_FIFO_WORDS = 512  # 3 kbyte of sample data in 7-byte tagged words

_LSB_PER_G = {0: 16384, 1: 2048, 2: 8192, 3: 4096}
_ODR_HZ = {1: 12.5, 2: 26.0, 3: 52.0, 4: 104.0, 5: 208.0, 6: 416.0, 7: 833.0, 8: 1660.0,
           9: 3330.0, 10: 6660.0}


def _odr_hz(code: int) -> float:
    return _ODR_HZ.get(code, 0.0)


class LSM6DSModel(SampledAccelModel):
    """An LSM6DS3 (who_am_i 0x69), LSM6DS3TR-C (0x6A) or LSM6DSO (0x6C) on an I2CBus."""

    BYTEORDER = "little"

    def __init__(self, source: AccelSource = still, *, who_am_i: int = WHO_AM_I_LSM6DS3,
                 variant: str | None = None):
        super().__init__(source, who_am_i)
        if variant is None:
            variant = "lsm6dso" if who_am_i == WHO_AM_I_LSM6DSO else "lsm6ds3"
        self.variant = variant
        self.fifo_words = (DSO_FIFO_WORDS if variant == "lsm6dso" else DS3TRC_FIFO_WORDS
                           if who_am_i == WHO_AM_I_LSM6DS3TRC else DS3_FIFO_WORDS)
        self._power_on()

    def _power_on(self) -> None:
        self.regs = bytearray(128)
        self.regs[CTRL3_C] = 0x04  # IF_INC on by default
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
        return _odr_hz(self.regs[CTRL1_XL] >> 4)

    def _sample_rate_hz(self) -> float:
        return self.odr_hz

    @property
    def lsb_per_g(self) -> int:
        return _LSB_PER_G[(self.regs[CTRL1_XL] >> 2) & 0x03]

    def _fifo_mode(self) -> int:
        reg = DSO_FIFO_CTRL4 if self.dso else DS3_FIFO_CTRL5
        return self.regs[reg] & 0x07

    def _collecting(self) -> bool:
        if self._fifo_mode() == 0:
            return False
        if self.dso:
            return (self.regs[DSO_FIFO_CTRL3] & 0x0F) != 0
        return ((self.regs[DS3_FIFO_CTRL3] & 0x07) != 0
                and (self.regs[DS3_FIFO_CTRL5] >> 3) & 0x0F != 0)

    def _push(self, sample: bytes) -> None:
        if self.dso:
            words = [bytes([(DSO_TAG_ACCEL << 3) | (self._tag_cnt << 1)]) + sample]
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
        self.regs[FIFO_STATUS2] |= 0x40

    # -- bus interface -----------------------------------------------------------------------------
    def _next_reg(self, reg: int) -> int:
        if not self.regs[CTRL3_C] & 0x04:
            return reg
        if not self.dso and reg == DS3_FIFO_DATA_OUT_L + 1:
            return DS3_FIFO_DATA_OUT_L  # rolls over within the FIFO output pair
        if self.dso and reg == DSO_FIFO_DATA_OUT_TAG + 6:
            return DSO_FIFO_DATA_OUT_TAG
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
        if reg == WHO_AM_I:
            return self.who_am_i
        if OUTX_L_XL <= reg < OUTX_L_XL + 6:
            return self._current[reg - OUTX_L_XL]
        n = len(self.fifo)
        if reg == FIFO_STATUS1:
            return n & 0xFF
        if reg == FIFO_STATUS2:
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
        if not self.dso and reg == FIFO_STATUS2 + 1:
            return self._pattern & 0xFF
        if not self.dso and reg == FIFO_STATUS2 + 2:
            return self._pattern >> 8
        if not self.dso and reg in (DS3_FIFO_DATA_OUT_L,
                                    DS3_FIFO_DATA_OUT_L + 1):
            value = self._fifo_byte(DS3_FIFO_DATA_OUT_L, reg, 2)
            if not self.fifo and not self._rd:
                self.regs[FIFO_STATUS2] &= ~0x40
            return value
        if self.dso and DSO_FIFO_DATA_OUT_TAG <= reg < DSO_FIFO_DATA_OUT_TAG + 7:
            return self._fifo_byte(DSO_FIFO_DATA_OUT_TAG, reg, 7)
        return self.regs[reg]

    def _write_byte(self, reg: int, value: int) -> None:
        if reg in (WHO_AM_I, FIFO_STATUS1, FIFO_STATUS2):
            return
        if reg == CTRL3_C and value & 0x01:  # SW_RESET
            self._power_on()
            return
        was_rate = self.odr_hz
        self.regs[reg] = value
        mode_reg = DSO_FIFO_CTRL4 if self.dso else DS3_FIFO_CTRL5
        if reg == mode_reg and value & 0x07 == 0:
            self.fifo.clear()  # bypass mode empties the FIFO
            self._pattern = 0
            self._rd = b""
            self.regs[FIFO_STATUS2] &= ~0x40
        if reg == CTRL1_XL and was_rate == 0 and self.odr_hz > 0:
            self._next_sample_t = self.t
