"""Model of a TI DRV2605L haptic driver as an I2C register file, on virtual time.

Transcribed from the datasheets, not from the firmware (this module imports nothing from
retrofw). DRV2605L: SLOS854D; DRV2605: SLOS825E. Sections followed:

- 8.6 Register Map: registers 0x00..0x22 and their reset values (STATUS 0xE0 = DEVICE_ID 7
  for the DRV2605L, 0x60 for the DRV2605; MODE 0x40 = standby; WAV_FRM_SEQ1 0x01;
  FEEDBACK_CONTROL 0x36 = ERM, FB_BRAKE_FACTOR 3, LOOP_GAIN 1, BEMF_GAIN 2; CONTROL1 0x93;
  CONTROL2 0xF5 = BIDIR_INPUT 1, SAMPLE_TIME 3; CONTROL3 0xA0 = ERM_OPEN_LOOP 1, signed RTP;
  CONTROL4 0x20 = AUTO_CAL_TIME 2). The calibration registers 0x16..0x19 reset differently on
  the two parts. MODE bit 7 (DEV_RESET) resets every register; bit 6 is standby (no output).
- "Data Formats for Waveform Playback" (8.5.x, the open-loop / closed-loop unidirectional /
  closed-loop bidirectional figures) and CONTROL2 BIDIR_INPUT, CONTROL3 DATA_FORMAT_RTP: the RTP
  transfer. The input is a fraction x of full scale: unsigned (DATA_FORMAT_RTP = 1) x = raw/255
  (0x00 = 0 %, 0x7F = 50 %, 0xFF = 100 %); signed (0) x = (s + 127)/254 for the two's complement
  s (0x81 = 0 %, 0x00 = 50 %, 0x7F = 100 %; 0x80 counts as 0 %). Then the drive, as a signed
  fraction of full scale:
    open loop (ERM_OPEN_LOOP for an ERM, LRA_OPEN_LOOP for an LRA): 2x - 1, negative = reverse
      drive (ERM braking / counter-rotation, LRA 180-degree commutation). The open-loop figure
      has no BIDIR_INPUT condition and unidirectional input "should only be used for
      closed-loop operation": the model keeps this transfer and notes the misuse in `notes`.
    closed loop, BIDIR_INPUT = 1: max(0, 2x - 1): below mid-scale there is no output.
    closed loop, BIDIR_INPUT = 0 (unidirectional): x: 0 = no output, 100 % = full scale.
  Full scale is RATED_VOLTAGE in closed loop and OD_CLAMP in open loop (8.5.2.1 Rated Voltage
  Programming, 8.5.2.2 Overdrive Voltage-Clamp Programming); the model reports fractions.
- MODE[2:0] (Table "Modes"): 0 internal trigger (GO plays the waveform sequencer), 5 RTP (drive
  from RTP_INPUT continuously), 7 auto-calibration.
- 8.5.6 Auto Calibration Procedures and CONTROL4 AUTO_CAL_TIME: with MODE = 7 out of standby,
  GO = 1 runs the calibration: the actuator is driven (recorded as full forward drive) for the
  AUTO_CAL_TIME window (0: 150-350 ms, 1: 250-450, 2: 500-700, 3: 1000-1200; the model takes the
  maximum), then GO self-clears, A_CAL_COMP, A_CAL_BEMF and BEMF_GAIN hold the result and
  STATUS DIAG_RESULT (bit 3) is 0. With no actuator on OUT+/OUT- (`actuator=None`), the wrong
  kind (an ERM configured as an LRA) or `fail_calibration`, DIAG_RESULT is 1 and the results
  registers keep their values. Clearing GO early aborts it (DIAG_RESULT 1). `cal_hangs`
  injects a chip whose GO never clears.
- STATUS OVER_TEMP (bit 1) clears when read; OC_DETECT (bit 0) latches while the output is
  shorted; both cut the output (`fault`).

Effect durations are not in the datasheet tables: the model counts 100 ms of full forward drive
per library effect and (value & 0x7F) * 10 ms for a wait slot (bit 7 set), then clears GO.

Output: `drive_timeline` is [(t_us, drive)] at every change, drive a signed fraction of full
scale (-1..1); `drive_at(t_us)` the drive at a moment. `timeline` is the event view
[(t_us, kind, value)]: ("rtp", round(drive * 255)), ("effect", id), ("calibration", 255),
("off", 0); `level_at(t_us)` = round(drive_at(t_us) * 255). `calibrated` says whether the
chip's closed loop has calibration values: a passed MODE 7 run since power-up, or A_CAL_COMP /
A_CAL_BEMF written by the host (results kept from an earlier run). Unplugging is
`I2CBus.unplugged.add(0x5A)` (the power cycle on replug is `power_cycle()`).
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
RATED_VOLTAGE = 0x16
OD_CLAMP = 0x17
A_CAL_COMP = 0x18
A_CAL_BEMF = 0x19
FEEDBACK_CONTROL = 0x1A  # N_ERM_LRA 7 (1 = LRA), FB_BRAKE_FACTOR 6:4, LOOP_GAIN 3:2, BEMF_GAIN 1:0
CONTROL1 = 0x1B  # STARTUP_BOOST 7, AC_COUPLE 5, DRIVE_TIME 4:0
CONTROL2 = 0x1C  # BIDIR_INPUT 7, BRAKE_STABILIZER 6, SAMPLE_TIME 5:4, BLANKING 3:2, IDISS 1:0
CONTROL3 = 0x1D  # NG_THRESH 7:6, ERM_OPEN_LOOP 5, SUPPLY_COMP_DIS 4, DATA_FORMAT_RTP 3,
#                  LRA_DRIVE_MODE 2, N_PWM_ANALOG 1, LRA_OPEN_LOOP 0
CONTROL4 = 0x1E  # ZC_DET_TIME 7:6, AUTO_CAL_TIME 5:4, OTP_STATUS 2, OTP_PROGRAM 0
DIAG_RESULT = 0x08  # STATUS bit 3
BIDIR_INPUT = 0x80  # CONTROL2 bit 7
ERM_OPEN_LOOP = 0x20  # CONTROL3 bit 5
DATA_FORMAT_RTP = 0x08  # CONTROL3 bit 3: 1 = unsigned
LRA_OPEN_LOOP = 0x01  # CONTROL3 bit 0
# MODE[2:0] values
MODE_INTERNAL_TRIGGER = 0
MODE_RTP = 5
MODE_AUTO_CALIBRATION = 7
# LIBRARY_SEL values: 1..5 TS2200 libraries A..E, 6 LRA library, 7 TS2200 library F
LIBRARY_LRA = 6
DEVICE_ID_DRV2605 = 3
DEVICE_ID_DRV2605L = 7
# AUTO_CAL_TIME[1:0] -> (minimum, maximum) ms (CONTROL4 register description)
AUTO_CAL_TIME_MS = ((150, 350), (250, 450), (500, 700), (1000, 1200))

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
# What a calibration finds for a plausible actuator: (A_CAL_COMP, A_CAL_BEMF, BEMF_GAIN). Not
# datasheet values (they depend on the motor); only "different from the reset values" matters.
CAL_RESULT_ERM = (0x0A, 0x7C, 2)
CAL_RESULT_LRA = (0x09, 0x92, 2)


class DRV2605Model:
    """The chip on `clock` (anything with `now_us` and `schedule(at_us, fn)`).

    actuator: what is wired to OUT+/OUT-: "auto" (whatever N_ERM_LRA selects), "erm", "lra",
    or None (nothing: calibration fails). cal_result: (A_CAL_COMP, A_CAL_BEMF, BEMF_GAIN) a
    passing calibration produces (default per actuator kind)."""

    def __init__(self, clock: Clock, device_id: int = 7, actuator: str | None = "auto",
                 cal_result: tuple[int, int, int] | None = None):
        self.clock = clock
        self.device_id = device_id
        self.actuator = actuator
        self.cal_result = cal_result
        self.fail_calibration = False  # the calibration fails (DIAG_RESULT 1) though wired
        self.cal_hangs = False  # fault injection: GO never clears after MODE 7
        self.regs = bytearray(0x23)
        self.fault: str | None = None
        self.calibrations = 0  # MODE 7 runs started
        self.notes: list[str] = []
        self._events: list[tuple[int, str, int, float]] = []  # (t_us, kind, value, drive)
        self._seq_end_us = -1
        self._seq_gen = 0
        self._cal_end_us = -1
        self.calibrated = False
        self.power_cycle()

    def power_cycle(self) -> None:
        self._abort_calibration(record=False)
        self.regs[:] = bytes(0x23)
        for reg, value in DEFAULTS.items():
            self.regs[reg] = value
        if self.device_id == DEVICE_ID_DRV2605L:
            for reg, value in DEFAULTS_DRV2605L.items():
                self.regs[reg] = value
        self.regs[STATUS] = (self.device_id << 5) | (self.regs[STATUS] & 0x1F)
        self.calibrated = False
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

    @property
    def open_loop(self) -> bool:
        return bool(self.regs[CONTROL3] & (LRA_OPEN_LOOP if self.lra else ERM_OPEN_LOOP))

    @property
    def bidirectional(self) -> bool:
        return bool(self.regs[CONTROL2] & BIDIR_INPUT)

    @property
    def unsigned(self) -> bool:
        return bool(self.regs[CONTROL3] & DATA_FORMAT_RTP)

    @property
    def diag_result(self) -> bool:
        return bool(self.regs[STATUS] & DIAG_RESULT)

    @property
    def calibrating(self) -> bool:
        return self._cal_end_us >= 0

    def rtp_drive(self, raw: int | None = None) -> float:
        """Drive (signed fraction of full scale) for RTP_INPUT `raw` (default: the register)
        under the present BIDIR_INPUT, DATA_FORMAT_RTP and loop settings."""
        raw = self.regs[RTP_INPUT] if raw is None else raw & 0xFF
        if self.unsigned:
            x = raw / 255
        else:
            s = raw - 256 if raw & 0x80 else raw
            x = max(s + 127, 0) / 254
        if self.open_loop:
            return 2 * x - 1
        if self.bidirectional:
            return max(0.0, 2 * x - 1)
        return x

    def sequence(self) -> list[int]:
        out = []
        for reg in range(WAV_FRM_SEQ1, WAV_FRM_SEQ1 + SEQUENCER_SLOTS):
            if self.regs[reg] == 0:
                break
            out.append(self.regs[reg])
        return out

    # -- I2C device interface ---------------------------------------------------------------
    def read(self, register: int, count: int) -> bytes:
        self._finish_due()
        status = self.regs[STATUS] & (0xE0 | DIAG_RESULT)
        if self.fault == "over_temp":
            status |= 0x02
        if self.fault == "over_current":
            status |= 0x01
        self.regs[STATUS] = status
        out = bytes(self.regs[register:register + count])
        if self.fault == "over_temp" and register == STATUS:
            self.regs[STATUS] &= ~0x02 & 0xFF  # clears when read (it is set again while hot)
        return out

    def write(self, register: int, data: bytes) -> None:
        self._finish_due()
        for i, value in enumerate(data):
            reg = register + i
            if reg == STATUS:
                continue  # read-only
            if reg == MODE and value & 0x80:
                self.power_cycle()  # DEV_RESET
                continue
            self.regs[reg] = value
            if reg in (A_CAL_COMP, A_CAL_BEMF):
                self.calibrated = True  # results written back by the host
            if reg == GO:
                self._go(value & 1)
            elif reg in (MODE, RTP_INPUT, CONTROL2, CONTROL3, FEEDBACK_CONTROL):
                self._drive_changed()

    # -- behaviour ---------------------------------------------------------------------------
    def _output_allowed(self) -> bool:
        return not self.standby and self.fault is None

    def _record(self, kind: str, value: int, drive: float, at_us: int | None = None) -> None:
        t = self.clock.now_us if at_us is None else at_us
        self._events.append((t, kind, value, drive))

    def _last_drive(self) -> float:
        return self._events[-1][3] if self._events else 0.0

    def _stop(self) -> None:
        now = self.clock.now_us
        while self._events and self._events[-1][0] > now:
            self._events.pop()  # effects scheduled after an interruption never play
        if self._events and self._events[-1][1] != "off":
            self._record("off", 0, 0.0)
        self._seq_end_us = -1

    def _drive_changed(self) -> None:
        if self.calibrating:
            return
        if self.mode == MODE_RTP and self._output_allowed():
            drive = self.rtp_drive()
            if self.open_loop and not self.bidirectional:
                self._note("BIDIR_INPUT = 0 in open loop: unidirectional input is for closed "
                           "loop only (datasheet CONTROL2)")
            if not self.open_loop and self.lra and not self.calibrated:
                self._note("closed-loop LRA drive without auto-calibration")
            if drive == 0:
                self._stop()
            elif not self._events or self._events[-1][1:] != ("rtp", round(drive * 255), drive):
                self._record("rtp", round(drive * 255), drive)
        elif self._seq_end_us < 0:
            self._stop()

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _go(self, go: int) -> None:
        if not go:
            if self.calibrating:
                self._abort_calibration(record=True)
            self._stop()
            return
        if not self._output_allowed():
            self.regs[GO] = 0
            return
        if self.mode == MODE_AUTO_CALIBRATION:
            self._start_calibration()
            return
        if self.mode != MODE_INTERNAL_TRIGGER:
            self.regs[GO] = 0
            return
        t = self.clock.now_us
        for value in self.sequence():
            if value & 0x80:
                t += (value & 0x7F) * 10_000
            else:
                self._record("effect", value, 1.0, at_us=t)
                t += EFFECT_US
        self._seq_end_us = t
        self._seq_gen += 1
        gen = self._seq_gen
        self.clock.schedule(t, lambda: self._sequence_done(gen))

    def _sequence_done(self, gen: int) -> None:
        if gen == self._seq_gen and self._seq_end_us >= 0:
            self.regs[GO] = 0
            self._seq_end_us = -1
            self._record("off", 0, 0.0)

    # -- MODE 7: auto-calibration (8.5.6) ---------------------------------------------------
    def _start_calibration(self) -> None:
        self.calibrations += 1
        window = AUTO_CAL_TIME_MS[(self.regs[CONTROL4] >> 4) & 0x03]
        self._cal_end_us = self.clock.now_us + window[1] * 1000
        self._seq_gen += 1
        gen = self._seq_gen
        present = self.actuator is not None
        self._record("calibration", 255, 1.0 if present else 0.0)
        self.clock.schedule(self._cal_end_us, lambda: self._calibration_done(gen))

    def _calibration_passes(self) -> bool:
        if self.actuator is None or self.fail_calibration or self.fault is not None:
            return False
        return self.actuator == "auto" or (self.actuator == "lra") == self.lra

    def _calibration_done(self, gen: int) -> None:
        if gen != self._seq_gen or not self.calibrating or self.cal_hangs:
            return
        self._cal_end_us = -1
        self.regs[GO] = 0
        if self._calibration_passes():
            comp, bemf, gain = self.cal_result or (CAL_RESULT_LRA if self.lra else CAL_RESULT_ERM)
            self.regs[A_CAL_COMP] = comp
            self.regs[A_CAL_BEMF] = bemf
            self.regs[FEEDBACK_CONTROL] = (self.regs[FEEDBACK_CONTROL] & 0xFC) | (gain & 0x03)
            self.regs[STATUS] &= ~DIAG_RESULT & 0xFF
            self.calibrated = True
        else:
            self.regs[STATUS] |= DIAG_RESULT
        self._record("off", 0, 0.0)

    def _abort_calibration(self, record: bool) -> None:
        if self._cal_end_us >= 0:
            self._cal_end_us = -1
            self._seq_gen += 1
            self.regs[STATUS] |= DIAG_RESULT
            if record:
                self._record("off", 0, 0.0)

    def _finish_due(self) -> None:
        now = self.clock.now_us
        if 0 <= self._seq_end_us <= now:
            self._sequence_done(self._seq_gen)
        if 0 <= self._cal_end_us <= now:
            self._calibration_done(self._seq_gen)

    # -- output -------------------------------------------------------------------------------
    @property
    def timeline(self) -> list[tuple[int, str, int]]:
        return [(t, kind, value) for t, kind, value, _ in self._events]

    @property
    def drive_timeline(self) -> list[tuple[int, float]]:
        """(t_us, drive -1..1) at every change of the output."""
        out: list[tuple[int, float]] = []

        def put(t: int, drive: float) -> None:
            if out and out[-1][0] == t:
                out[-1] = (t, drive)
            elif not out or out[-1][1] != drive:
                out.append((t, drive))

        events = self._events
        for i, (t, kind, _value, drive) in enumerate(events):
            put(t, drive)
            if kind == "effect":
                end = t + EFFECT_US
                nxt = events[i + 1][0] if i + 1 < len(events) else None
                if nxt is None or nxt > end:
                    put(end, 0.0)
        return out

    def drive_at(self, t_us: int) -> float:
        """Output drive (signed fraction of full scale) at `t_us`."""
        drive = 0.0
        for when, value in self.drive_timeline:
            if when > t_us:
                break
            drive = value
        return drive

    def level_at(self, t_us: int) -> int:
        """drive_at(t_us) on a -255..255 scale."""
        return round(self.drive_at(t_us) * 255)
