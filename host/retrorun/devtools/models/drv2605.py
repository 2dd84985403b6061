"""Model of a TI DRV2605L haptic driver as an I2C register file, on virtual time.

From the datasheet register maps (DRV2605L: SLOS854 section 8.6; DRV2605: SLOS825 section
7.6), transcribed here and not taken from the firmware: registers 0x00..0x22 with their reset
defaults (STATUS 0xE0 = DEVICE_ID 7 for the DRV2605L, 0x60 for the DRV2605; MODE 0x40 =
standby; WAV_FRM_SEQ1 0x01; FEEDBACK_CONTROL 0x36 = ERM; CONTROL2 0xF5 = BIDIR_INPUT set;
CONTROL3 0xA0 = ERM open loop, signed RTP; the calibration registers 0x16..0x19 differ between
the two parts).
MODE bit 7 resets every register; bit 6 is standby (no output); mode 0 plays the waveform
sequencer when GO is set, mode 5 drives the output from RTP_INPUT continuously. STATUS
OVER_TEMP (bit 1) clears when read; OC_DETECT (bit 0) latches while the output is shorted.

Effect durations are not in the datasheet tables: the model counts 100 ms per library effect and
(value & 0x7F) * 10 ms for a wait slot (bit 7 set), then clears GO as the chip does.

`timeline` records what the actuator is driven with: (t_us, "rtp", level 0..255),
(t_us, "effect", id), (t_us, "off", 0). `level_at(t_us)` gives the drive (0..255) at a moment,
counting a playing effect as 255. Faults (`fault`): "over_temp" and "over_current" set their
STATUS bits and cut the output; unplugging is `I2CBus.unplugged.add(0x5A)` (the power cycle
on replug is `power_cycle()`).
"""

from __future__ import annotations

from retrorun.devtools.models.pwm import Clock

I2C_ADDRESS = 0x5A
# Register addresses (datasheet names)
STATUS = 0x00  # DEVICE_ID 7:5, DIAG_RESULT 3, FB_STS 2, OVER_TEMP 1, OC_DETECT 0
MODE = 0x01  # DEV_RESET 7, STANDBY 6, MODE 2:0
RTP_INPUT = 0x02
LIBRARY_SEL = 0x03  # HI_Z 4, LIBRARY_SEL 2:0
WAV_FRM_SEQ1 = 0x04  # ..0x0B WAV_FRM_SEQ8: WAIT bit 7, effect id 6:0; 0 ends the sequence
SEQUENCER_SLOTS = 8
GO = 0x0C
FEEDBACK_CONTROL = 0x1A  # N_ERM_LRA 7 (1 = LRA)
CONTROL2 = 0x1C  # BIDIR_INPUT 7
CONTROL3 = 0x1D  # ERM_OPEN_LOOP 5, DATA_FORMAT_RTP 3 (1 = unsigned)
# MODE[2:0] values
MODE_INTERNAL_TRIGGER = 0
MODE_RTP = 5
MODE_AUTO_CALIBRATION = 7
# LIBRARY_SEL values: 1..5 TS2200 libraries A..E, 6 LRA library, 7 TS2200 library F
LIBRARY_LRA = 6
DEVICE_ID_DRV2605 = 3
DEVICE_ID_DRV2605L = 7

# reset values (SLOS825 register map, DRV2605), with the DRV2605L's calibration registers
DEFAULTS = {0x00: 0xE0, 0x01: 0x40, 0x04: 0x01, 0x11: 0x05, 0x12: 0x19, 0x13: 0xFF,
            0x14: 0x19, 0x15: 0xFF, 0x16: 0x3F, 0x17: 0x89, 0x18: 0x0D, 0x19: 0x6D,
            0x1A: 0x36, 0x1B: 0x93, 0x1C: 0xF5, 0x1D: 0xA0, 0x1E: 0x20, 0x1F: 0x80,
            0x20: 0x33}
# the DRV2605L's RATED_VOLTAGE, OD_CLAMP, A_CAL_COMP and A_CAL_BEMF reset values (SLOS854
# register map; the DRV2605's are 0x3F, 0x89, 0x0D, 0x6D)
DEFAULTS_DRV2605L = {0x16: 0x3E, 0x17: 0x8C, 0x18: 0x0C, 0x19: 0x6C}
EFFECT_US = 100_000
FAULTS = (None, "over_temp", "over_current")


class DRV2605Model:
    def __init__(self, clock: Clock, device_id: int = 7):
        self.clock = clock
        self.device_id = device_id
        self.regs = bytearray(0x23)
        self.fault: str | None = None
        self.timeline: list[tuple[int, str, int]] = []
        self._seq_end_us = -1
        self._seq_gen = 0
        self.power_cycle()

    def power_cycle(self) -> None:
        self.regs[:] = bytes(0x23)
        for reg, value in DEFAULTS.items():
            self.regs[reg] = value
        if self.device_id == DEVICE_ID_DRV2605L:
            for reg, value in DEFAULTS_DRV2605L.items():
                self.regs[reg] = value
        self.regs[STATUS] = (self.device_id << 5) | (self.regs[STATUS] & 0x1F)
        self._stop()

    # -- derived state --------------------------------------------------------------------
    @property
    def mode(self) -> int:
        return self.regs[MODE] & 0x07

    @property
    def standby(self) -> bool:
        return bool(self.regs[MODE] & 0x40)

    @property
    def lra(self) -> bool:
        return bool(self.regs[FEEDBACK_CONTROL] & 0x80)

    @property
    def library(self) -> int:
        return self.regs[LIBRARY_SEL] & 0x07

    def rtp_level(self) -> int:
        """RTP_INPUT as a drive level 0..255 (signed format: 0..127 -> 0..254, negative = 0)."""
        raw = self.regs[RTP_INPUT]
        if self.regs[CONTROL3] & 0x08:
            return raw
        return 0 if raw >= 0x80 else raw * 2

    def sequence(self) -> list[int]:
        out = []
        for reg in range(WAV_FRM_SEQ1, WAV_FRM_SEQ1 + SEQUENCER_SLOTS):
            if self.regs[reg] == 0:
                break
            out.append(self.regs[reg])
        return out

    # -- I2C device interface ---------------------------------------------------------------
    def read(self, register: int, count: int) -> bytes:
        self._finish_sequence()
        status = self.regs[STATUS] & 0xE0
        if self.fault == "over_temp":
            status |= 0x02
        if self.fault == "over_current":
            status |= 0x01
        self.regs[STATUS] = status
        return bytes(self.regs[register:register + count])

    def write(self, register: int, data: bytes) -> None:
        self._finish_sequence()
        for i, value in enumerate(data):
            reg = register + i
            if reg == STATUS:
                continue  # read-only
            if reg == MODE and value & 0x80:
                self.power_cycle()  # DEV_RESET
                continue
            self.regs[reg] = value
            if reg in (MODE, RTP_INPUT, CONTROL3):
                self._drive_changed()
            elif reg == GO:
                self._go(value & 1)

    # -- behaviour ---------------------------------------------------------------------------
    def _output_allowed(self) -> bool:
        return not self.standby and self.fault is None

    def _record(self, kind: str, value: int) -> None:
        self.timeline.append((self.clock.now_us, kind, value))

    def _stop(self) -> None:
        now = self.clock.now_us
        while self.timeline and self.timeline[-1][0] > now:
            self.timeline.pop()  # effects scheduled after an interruption never play
        if self.timeline and self.timeline[-1][1] != "off":
            self._record("off", 0)
        self._seq_end_us = -1

    def _drive_changed(self) -> None:
        if self.mode == MODE_RTP and self._output_allowed():
            level = self.rtp_level()
            last = self.timeline[-1] if self.timeline else None
            if level and (last is None or last[1:] != ("rtp", level)):
                self._record("rtp", level)
            elif not level:
                self._stop()
        elif self._seq_end_us < 0:
            self._stop()

    def _go(self, go: int) -> None:
        if not go:
            self._stop()
            return
        if self.mode != MODE_INTERNAL_TRIGGER or not self._output_allowed():
            self.regs[GO] = 0
            return
        t = self.clock.now_us
        for value in self.sequence():
            if value & 0x80:
                t += (value & 0x7F) * 10_000
            else:
                self.timeline.append((t, "effect", value))
                t += EFFECT_US
        self._seq_end_us = t
        self._seq_gen += 1
        gen = self._seq_gen
        self.clock.schedule(t, lambda: self._sequence_done(gen))

    def _sequence_done(self, gen: int) -> None:
        if gen == self._seq_gen and self._seq_end_us >= 0:
            self.regs[GO] = 0
            self._seq_end_us = -1
            self._record("off", 0)

    def _finish_sequence(self) -> None:
        if 0 <= self._seq_end_us <= self.clock.now_us:
            self._sequence_done(self._seq_gen)

    def level_at(self, t_us: int) -> int:
        """Drive level (0..255) at `t_us`; an effect counts as 255 for EFFECT_US."""
        level = 0
        for when, kind, value in self.timeline:
            if when > t_us:
                break
            if kind == "rtp":
                level = value
            elif kind == "effect":
                level = 255 if t_us < when + EFFECT_US else 0
            else:
                level = 0
        return level
