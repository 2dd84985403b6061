"""UART ultrasonic rangers: DFRobot A02YYUW, JSN-SR04T (mode 2 / 3), AJ-SR04M serial modes.

Wiring: module TX -> ESP32 RX pin, module RX -> ESP32 TX pin (needed for triggered mode; on the
A02YYUW, RX left floating or high selects the filtered "processed" output every 100-300 ms, RX
held low the real-time output every ~100 ms). UART at 9600 8N1; build it with
`machine.UART(id, 9600, tx=..., rx=..., rxbuf=256)`.

Frame (all these modules): 0xFF, distance high byte, distance low byte, checksum, where
checksum = (0xFF + high + low) & 0xFF and the distance is in millimetres.

Modes:
- "auto": the module sends a frame by itself every ~100 ms (A02YYUW, JSN-SR04T mode 2 with
  R27 = 47k, AJ-SR04M auto-serial mode).
- "trigger": one byte on the module's RX starts one measurement (0x55 for JSN-SR04T mode 3 with
  R27 = 120k, 0x01 for AJ-SR04M): `measure()` collects the answer to the previous trigger and
  sends the next one, so it never waits; call it every `period_ms`.

`measure()` returns one int (retrofw.wire): mm (blind zone clipped to `min_mm`), NO_READING (0,
or beyond `max_mm`), SENSOR_BAD_FRAME (only checksum failures for `bad_after` frames in a row),
SENSOR_TIMEOUT (no valid frame for `timeout_ms`), SENSOR_FROZEN (optional, see below). Between
frames it repeats the last result; `fresh` says whether the last call saw a new frame.

Frozen values: these modules filter on board and a static wall legitimately gives the same mm
for minutes, so repeated values alone prove nothing. `frozen_ms` is therefore 0 (off) by
default; set it (e.g. 5000) only where the mount always moves relative to the scene. A module
whose controller hangs stops sending, which is caught as SENSOR_TIMEOUT.

The UART draining and the result bookkeeping are shared with the TF-Luna driver
(retrofw.drivers._uartframes); this module holds the frame format and the modes.
"""

from retrofw import wire
from retrofw.drivers._uartframes import NO_VALUE, FramedSensor

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_RX_CHUNK = const(32)
_MAX_CHUNKS = const(8)
_STREAM_POLL_MS = const(25)  # measure() calls per 100 ms frame of a streaming module: 4
# Frame and trigger bytes (DFRobot SEN0311 wiki, JSN-SR04T v3 manual, AJ-SR04M manual)
_HEADER = const(0xFF)
_FRAME_SIZE = const(4)
_TRIGGER_JSN = const(0x55)  # JSN-SR04T mode 3: one byte on RX starts one measurement


class FrameParser:
    """Byte-stream parser for 4-byte 0xFF frames. Pure byte logic; allocates nothing.

    `feed(buf, n)` consumes n bytes and returns how many valid frames completed; after it,
    `value` is the distance (mm) of the last valid frame, `good` and `bad` count frames since
    construction. A checksum failure re-synchronises on the next 0xFF inside the bad frame.
    """

    def __init__(self):
        self.frame = bytearray(_FRAME_SIZE)
        self.fill = 0
        self.value = NO_VALUE
        self.good = 0
        self.bad = 0

    def feed(self, buf, n):
        frame = self.frame
        fill = self.fill
        good = 0
        for i in range(n):
            byte = buf[i]
            if fill == 0 and byte != _HEADER:
                continue
            frame[fill] = byte
            fill += 1
            if fill < _FRAME_SIZE:
                continue
            if (frame[0] + frame[1] + frame[2]) & 0xFF == frame[3]:
                self.value = (frame[1] << 8) | frame[2]
                good += 1
                fill = 0
                continue
            self.bad += 1
            # resync: keep the bytes from the next 0xFF on
            fill = 0
            for j in range(1, 4):
                if frame[j] == _HEADER:
                    for k in range(j, 4):
                        frame[k - j] = frame[k]
                    fill = 4 - j
                    break
        self.fill = fill
        self.good += good
        return good


class UARTUltrasonic(FramedSensor):
    """Distance from a UART ultrasonic module.

    uart: machine.UART at 9600. mode: "auto" or "trigger". trigger_byte: 0x55 (JSN-SR04T mode 3,
    the default) or 0x01 (AJ-SR04M serial-trigger mode). min_mm/max_mm: blind zone and range (A02YYUW 30..4500 mm; JSN-SR04T
    250..4500 mm). period_ms: the module's output period (100). timeout_ms: silence that counts as
    SENSOR_TIMEOUT (default 3 periods + 100 ms). ticks_ms: time source (default time.ticks_ms).
    """

    def __init__(self, uart, mode="auto", trigger_byte=_TRIGGER_JSN, min_mm=30,
                 max_mm=4500, period_ms=100, timeout_ms=None, bad_after=2, frozen_ms=0,
                 ticks_ms=None):
        if mode not in ("auto", "trigger"):
            raise ValueError("mode must be 'auto' or 'trigger'")
        if timeout_ms is None:
            timeout_ms = 3 * period_ms + 100
        self._attach(uart, FrameParser(), _RX_CHUNK, _MAX_CHUNKS, timeout_ms, bad_after,
                     frozen_ms, ticks_ms)
        self._trigger = mode == "trigger"
        self._cmd = bytes((trigger_byte,))
        self.min_mm = min_mm
        self.max_mm = max_mm
        # Half the beam (retrofw.alerts' hold range): no datasheet states it for small targets;
        # the HC-SR04's 15 degrees is the narrowest ultrasonic beam, and a narrower beam holds a
        # lost object longer (assumed, the safe side).
        self.beam_half_deg = 7.5
        self.period_ms = period_ms
        # how often to call measure(): once per trigger, or a few times per frame of a module
        # that streams (a frame is then picked up within poll_ms, not a whole period late)
        self.poll_ms = period_ms if self._trigger else min(period_ms, _STREAM_POLL_MS)

    def measure(self):
        """Latest reading: mm, NO_READING or a SENSOR_* code (see the module docstring)."""
        now = self._ticks_ms()
        good = self._drain()
        if self._trigger:
            self._uart.write(self._cmd)
        return self._update(good, now)

    def _convert(self, now):
        mm = self.parser.value
        if mm == 0 or mm > self.max_mm:
            self._forget_raw()  # "nothing there" may repeat forever: never called frozen
            return wire.NO_READING
        if self._frozen(mm, 0, now):
            return wire.SENSOR_FROZEN
        return mm if mm >= self.min_mm else self.min_mm
