"""Model of an ST VL53L1X time-of-flight ranger as an I2C register file, on virtual time.

Register facts from the datasheet (DS12385) and ST's ultra-lite driver (ULD, UM2510, register
names as in its VL53L1X_api.h), transcribed here and not taken from the firmware:
16-bit register addresses; model ID 0xEA at 0x010F, module type 0xCC at 0x0110 and
IDENTIFICATION__REVISION_ID 0x10 at 0x0111 (ST's VL53L1 register map: mask revision in bits 7:4,
NVM revision in 3:0; ST's full API names a mask revision 1 part "VL53L1 cut1.1", and Adafruit's
driver, written against real parts, refuses any other value); firmware
boot bit 0x00E5 bit 0 (set 1.2 ms after power-up); interrupt polarity 0x0030 bit 4 (0 = active
high) and data ready when 0x0031 bit 0 equals it; 0x0087 = 0x40 starts continuous ranging,
0x00 stops it; writing 1 to 0x0086 clears the interrupt; results at 0x0089 (raw range status,
ambient rate 0x0090, distance 0x0096, signal rate 0x0098: rates in MCPS 9.7 fixed point, read
by the ULD as kcps = raw * 8). The measurement period is the larger of the timing budget (decoded
from RANGE_CONFIG__TIMEOUT_MACROP_A) and the inter-measurement period (0x006C, in oscillator
ticks: ms * (0x00DE & 0x3FF) * 1.075).

Physics, simplified: the signal rate falls with the square of the distance (a 90 %-reflective
target gives a usable signal to 4 m in the dark in long mode, 1.3 m in short mode); strong
ambient light cuts the long-mode range to about 0.73 m (datasheet table, "strong light"); a
smaller region of interest (0x0080) narrows the cone (`fov_deg`) and collects less signal;
noise of the distance grows with it; below 40 mm the status is "min range clipped".

Faults (`fault`): "frozen" (data ready keeps coming but the result registers never change),
"never_ready" (ranging never completes), "sunlight" (ambient 8 Mcps: failures beyond 0.73 m),
"hw_fail" (raw status 3: VCSEL failure), "no_boot" (0x00E5 stays 0). Unplugging is the bus's
business: `I2CBus.unplugged.add(0x29)`; `power_cycle()` is what replugging does to the chip.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from retrorun.devtools.models.pwm import Clock

I2C_ADDRESS = 0x29  # datasheet 6.1: 0x52 as an 8-bit write address
# Registers (ULD names), 16-bit addresses
GPIO_HV_MUX__CTRL = 0x0030  # bit 4: interrupt polarity, 0 = active high
GPIO__TIO_HV_STATUS = 0x0031  # bit 0 equal to the polarity: new result ready
RANGE_CONFIG__TIMEOUT_MACROP_A_HI = 0x005E  # 16 bits
RANGE_CONFIG__VCSEL_PERIOD_A = 0x0060  # 0x0F in long distance mode, 0x07 in short
SYSTEM__INTERMEASUREMENT_PERIOD = 0x006C  # 32 bits, oscillator ticks
ROI_CONFIG__USER_ROI_CENTRE_SPAD = 0x007F
ROI_CONFIG__USER_ROI_REQUESTED_GLOBAL_XY_SIZE = 0x0080  # (height - 1) << 4 | (width - 1)
SYSTEM__INTERRUPT_CLEAR = 0x0086  # write 1: clear the data-ready interrupt
SYSTEM__MODE_START = 0x0087  # 0x40 start continuous ranging, 0x00 stop
RESULT__RANGE_STATUS = 0x0089  # first of the result registers
RESULT__OSC_CALIBRATE_VAL = 0x00DE  # low 10 bits: oscillator ticks per ms
FIRMWARE__SYSTEM_STATUS = 0x00E5  # bit 0: booted
IDENTIFICATION__MODEL_ID = 0x010F  # 0xEA, then MODULE_TYPE 0xCC at 0x0110
IDENTIFICATION__REVISION_ID = 0x0111  # mask revision 7:4, NVM revision 3:0
MODEL_ID, MODULE_TYPE, REVISION_ID = 0xEA, 0xCC, 0x10
START_RANGING = 0x40
# the result block 0x0089..0x0099 as the ULD reads it: offsets of the fields the ULD uses
RESULT_BLOCK_SIZE = 17
_RES_STATUS, _RES_STREAM_COUNT = 0, 2  # RESULT__RANGE_STATUS, RESULT__STREAM_COUNT (0x008B)
_RES_AMBIENT = 7  # RESULT__AMBIENT_COUNT_RATE_MCPS_SD (0x0090), 9.7 fixed point
_RES_DISTANCE = 13  # RESULT__FINAL_CROSSTALK_CORRECTED_RANGE_MM_SD0 (0x0096), mm
_RES_SIGNAL = 15  # RESULT__PEAK_SIGNAL_COUNT_RATE_CROSSTALK_CORRECTED_MCPS_SD0 (0x0098)
# RANGE_CONFIG__TIMEOUT_MACROP_A value -> timing budget ms (ULD SetTimingBudgetInMs): long
# distance mode (2), and short (1, which adds 15 ms)
_BUDGET_BY_A = {0x001E: 20, 0x0060: 33, 0x00AD: 50, 0x01CC: 100, 0x02D9: 200, 0x048F: 500}
_BUDGET_BY_A_SHORT = {0x001D: 15, 0x0051: 20, 0x00D6: 33, 0x01AE: 50, 0x02E1: 100, 0x03E1: 200,
                      0x0591: 500}

FAULTS = (None, "frozen", "never_ready", "sunlight", "hw_fail", "no_boot")
BOOT_US = 1200
OSC_CALIBRATE = 0x01F4  # oscillator ticks per ms (a plausible trimmed value)
# raw RESULT__RANGE_STATUS codes (bits 4:0) the model produces; the ULD maps 9 -> 0 valid,
# 6 -> 1 sigma fail, 4 -> 2 signal fail, 3 -> 5 VCSEL/hardware fail, 8 -> 3 min range clipped
RAW_VALID, RAW_SIGMA_FAIL, RAW_SIGNAL_FAIL, RAW_HW_FAIL, RAW_MIN_RANGE = 9, 6, 4, 3, 8


class VL53L1XModel:
    """VL53L1X register file. `target`: mm, None, or callable(now_us) -> mm | None."""

    index_bytes = 2  # 16-bit register indices, sent MSB first (datasheet: I2C interface)

    def __init__(self, clock: Clock, target: int | Callable[[int], int | None] | None = None,
                 reflectivity: float = 0.9, ambient_kcps: int = 40, noise: bool = True,
                 seed: int = 1):
        self.clock = clock
        self.target = target
        self.reflectivity = reflectivity
        self.ambient_kcps = ambient_kcps
        self.noise = noise
        self._rng = random.Random(seed)
        self.fault: str | None = None
        self.regs = bytearray(0x200)
        self.power_cycle()
        self.starts = 0
        self.results_read = 0
        self.writes: list[tuple[int, bytes]] = []

    def power_cycle(self) -> None:
        """Power-on state: registers at their defaults, not ranging, booting for 1.2 ms."""
        regs = self.regs
        regs[:] = bytes(len(regs))
        regs[IDENTIFICATION__MODEL_ID], regs[IDENTIFICATION__MODEL_ID + 1] = MODEL_ID, MODULE_TYPE
        regs[IDENTIFICATION__REVISION_ID] = REVISION_ID
        regs[GPIO_HV_MUX__CTRL] = 0x01
        regs[ROI_CONFIG__USER_ROI_CENTRE_SPAD], regs[ROI_CONFIG__USER_ROI_REQUESTED_GLOBAL_XY_SIZE] = 199, 0xFF
        regs[RESULT__OSC_CALIBRATE_VAL:RESULT__OSC_CALIBRATE_VAL + 2] = \
            OSC_CALIBRATE.to_bytes(2, "big")
        self._power_on_us = self.clock.now_us
        self._running = False
        self._start_us = 0
        self._consumed = 0
        self._measured = 0  # rangings whose result is in the result registers
        self._result = bytes(RESULT_BLOCK_SIZE)

    # -- derived configuration -------------------------------------------------------------
    def _u16(self, reg: int) -> int:
        return (self.regs[reg] << 8) | self.regs[reg + 1]

    def long_mode(self) -> bool:
        return self.regs[RANGE_CONFIG__VCSEL_PERIOD_A] == 0x0F

    def roi(self) -> tuple[int, int]:
        """(width, height) of the region of interest in SPADs (0x0080)."""
        size = self.regs[ROI_CONFIG__USER_ROI_REQUESTED_GLOBAL_XY_SIZE]
        return (size & 0x0F) + 1, (size >> 4) + 1

    def fov_deg(self) -> float:
        """Full cone angle seen through the ROI: 27 degrees with all 16x16 SPADs (datasheet),
        about 15 degrees at the smallest 4x4 ROI; linear in between (an approximation)."""
        side = min(self.roi())
        return 15.0 + 12.0 * (side - 4) / 12

    def budget_ms(self) -> int:
        table = _BUDGET_BY_A if self.long_mode() else _BUDGET_BY_A_SHORT
        return table.get(self._u16(RANGE_CONFIG__TIMEOUT_MACROP_A_HI), 50)

    def period_ms(self) -> float:
        r = SYSTEM__INTERMEASUREMENT_PERIOD
        ticks = int.from_bytes(self.regs[r:r + 4], "big")
        imp = ticks / ((self._u16(RESULT__OSC_CALIBRATE_VAL) & 0x3FF) * 1.075)
        return max(float(self.budget_ms()), imp)

    def _completed(self) -> int:
        if not self._running or self.fault == "never_ready":
            return 0
        return int((self.clock.now_us - self._start_us) // (self.period_ms() * 1000))

    def _polarity(self) -> int:
        return 0 if self.regs[GPIO_HV_MUX__CTRL] & 0x10 else 1

    # -- I2C device interface --------------------------------------------------------------
    def read(self, register: int, count: int) -> bytes:
        regs = self.regs
        booted = (self.clock.now_us - self._power_on_us >= BOOT_US
                  and self.fault != "no_boot")
        regs[FIRMWARE__SYSTEM_STATUS] = 0x03 if booted else 0x00
        pol = self._polarity()
        done = self._completed()
        ready = done > self._consumed
        regs[GPIO__TIO_HV_STATUS] = (regs[GPIO__TIO_HV_STATUS] & 0xFE) | (
            pol if ready else 1 - pol)
        # the result registers hold the latest completed ranging: reading them again (or
        # reading one field, then another) gives the same result until the next one completes
        if done > self._measured:
            self._measured = done
            if self.fault != "frozen":
                self._result = self._measurement()
        regs[RESULT__RANGE_STATUS:RESULT__RANGE_STATUS + RESULT_BLOCK_SIZE] = self._result
        if register <= RESULT__RANGE_STATUS < register + count:
            self.results_read += 1
        return bytes(regs[register:register + count])

    def write(self, register: int, data: bytes) -> None:
        self.writes.append((register, bytes(data)))
        self.regs[register:register + len(data)] = data
        end = register + len(data)
        if register <= SYSTEM__INTERRUPT_CLEAR < end and \
                self.regs[SYSTEM__INTERRUPT_CLEAR] & 1:
            self._consumed = self._completed()
        if register <= SYSTEM__MODE_START < end:
            if self.regs[SYSTEM__MODE_START] == START_RANGING:
                self._running = True
                self._start_us = self.clock.now_us
                self._consumed = self._measured = 0
                self.starts += 1
            else:
                self._running = False

    # -- physics -------------------------------------------------------------------------------
    def distance_now(self) -> int | None:
        target = self.target
        return target(self.clock.now_us) if callable(target) else target

    def _measurement(self) -> bytes:
        rng = self._rng
        ambient = 8000 if self.fault == "sunlight" else self.ambient_kcps
        max_range = 4000 if self.long_mode() else 1300
        if self.fault == "sunlight":
            max_range = 730 if self.long_mode() else 1350
        d = self.distance_now()
        width, height = self.roi()
        area = width * height / 256  # fewer SPADs collect less signal
        reach = max_range * (self.reflectivity / 0.9 * area) ** 0.5
        if self.fault == "hw_fail":
            raw, dist, signal = RAW_HW_FAIL, 0, 0
        elif d is None or d > reach:
            raw, dist = RAW_SIGNAL_FAIL, 0
            signal = rng.randint(0, 300) if self.noise else 100
        else:
            signal = 200_000 * self.reflectivity * area * (100 / max(d, 40)) ** 2  # kcps
            if self.noise:
                signal *= 1 + rng.uniform(-0.05, 0.05)
                d = round(d + rng.gauss(0, 1.5 + d / 500))
            raw = RAW_MIN_RANGE if d < 40 else RAW_VALID
            dist = max(d, 0)
        stream = (self.regs[RESULT__RANGE_STATUS + _RES_STREAM_COUNT] + 1) & 0xFF
        out = bytearray(RESULT_BLOCK_SIZE)
        out[_RES_STATUS] = raw
        out[_RES_STREAM_COUNT] = stream
        out[_RES_AMBIENT:_RES_AMBIENT + 2] = min(int(ambient / 8), 0xFFFF).to_bytes(2, "big")
        out[_RES_DISTANCE:_RES_DISTANCE + 2] = min(dist, 0xFFFF).to_bytes(2, "big")
        out[_RES_SIGNAL:_RES_SIGNAL + 2] = min(int(signal / 8), 0xFFFF).to_bytes(2, "big")
        return bytes(out)
