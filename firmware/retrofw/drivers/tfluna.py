"""Benewake TF-Luna single-point LiDAR over UART (default 115200 8N1, 100 frames/s).

Wiring: TF-Luna pin 5 (mode) open or high for UART; its TXD -> ESP32 RX, RXD -> ESP32 TX;
5 V supply, 3.3 V logic. Give the UART a receive buffer of at least 256 bytes:
`machine.UART(id, 115200, tx=..., rx=..., rxbuf=512)` (100 frames/s = 900 bytes/s).

Frame (default "9-byte/cm" format): 0x59 0x59 DistL DistH AmpL AmpH TempL TempH checksum;
checksum = low 8 bits of the sum of bytes 0..7; Dist in cm (0.2..8 m at 90 % reflectivity);
Amp is the signal strength; the datasheet says Dist is unreliable when Amp < 100 or
Amp == 65535 (overexposure); temperature in C = Temp / 8 - 256.

`measure()` returns one int (retrofw.wire): mm; NO_READING (Dist 0, Amp < 100, beyond
`max_mm`); SENSOR_BLINDED (Amp == 65535: overexposed by sunlight or a retro-reflector);
SENSOR_BAD_FRAME (only checksum failures for `bad_after` frames in a row); SENSOR_TIMEOUT (no
valid frame for `timeout_ms`); SENSOR_FROZEN (the same valid Dist *and* Amp for `frozen_ms`).

Frozen rule: the TF-Luna averages 500 raw measurements/s into each output frame, so Amp (16
bits) carries noise of several counts even on a static wall; the exact (Dist, Amp) pair
repeating for a full second (100 frames) does not happen on a working sensor. Weak frames
(no reading) are never called frozen: pointing at open sky they may legitimately repeat.

The UART draining and the fresh / bad-frame / timeout / frozen bookkeeping are shared with the
UART ultrasonic driver (retrofw.drivers._uartframes); this module holds the TF-Luna facts.
"""

from retrofw import wire
from retrofw.drivers._uartframes import NO_VALUE, FramedSensor

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_RX_CHUNK = const(45)  # 5 frames
_MAX_CHUNKS = const(24)
# Product manual (SJ-PM-TF-Luna): frame header, frame size, Amp limits, the frame-rate command
_HEADER = const(0x59)
_FRAME_SIZE = const(9)
_AMP_MIN = const(100)  # Dist is unreliable below this signal strength
_AMP_OVEREXPOSED = const(65535)
_CMD_HEADER = const(0x5A)  # command: 0x5A, length, id, payload, checksum
_ID_SAMPLE_FREQ = const(0x03)


class FrameParser:
    """Byte-stream parser for TF-Luna 9-byte frames. Pure byte logic; allocates nothing.

    `feed(buf, n)` returns the number of valid frames completed; `dist`, `amp`, `temp` hold the
    last valid frame's raw fields (cm, counts, raw temperature); `good`/`bad` count frames.
    """

    def __init__(self):
        self.frame = bytearray(_FRAME_SIZE)
        self.fill = 0
        self.dist = NO_VALUE
        self.amp = 0
        self.temp = 0
        self.good = 0
        self.bad = 0

    def feed(self, buf, n):
        frame = self.frame
        fill = self.fill
        head = _HEADER
        size = _FRAME_SIZE
        good = 0
        for i in range(n):
            byte = buf[i]
            if fill < 2 and byte != head:
                fill = 0
                continue
            frame[fill] = byte
            fill += 1
            if fill < size:
                continue
            total = 0
            for j in range(size - 1):
                total += frame[j]
            if total & 0xFF == frame[size - 1]:
                self.dist = frame[2] | (frame[3] << 8)
                self.amp = frame[4] | (frame[5] << 8)
                self.temp = frame[6] | (frame[7] << 8)
                good += 1
                fill = 0
                continue
            self.bad += 1
            fill = 0
            for j in range(1, size - 1):  # resync on the next header pair inside the bad frame
                if frame[j] == head and frame[j + 1] == head:
                    for k in range(j, size):
                        frame[k - j] = frame[k]
                    fill = size - j
                    break
        self.fill = fill
        self.good += good
        return good


class TFLuna(FramedSensor):
    """Distance from a TF-Luna on `uart` (machine.UART at 115200).

    period_ms: output period (10 at the default 100 Hz). rate_hz: if given, command that frame
    rate now (`set_rate`; 50 Hz halves the parsing cost and still gives 8 cm steps at 4 m/s;
    not saved in the chip, so it is sent at every start and again when frames come back after a
    TIMEOUT: the chip may have been power-cycled). max_mm: longest
    distance trusted (8000). timeout_ms: silence that counts as SENSOR_TIMEOUT (default 200).
    frozen_ms: 0 turns frozen detection off (default 1000). rxbuf: the UART's receive buffer
    size: when a call finds it (nearly) full, the ESP32 has been dropping the *newest* bytes
    (the app stalled), so the frames in it are old: they are discarded (`overflows` counts
    it) and the next call, one frame period later, reads fresh ones. ticks_ms: time source.
    """

    def __init__(self, uart, period_ms=10, max_mm=8000, timeout_ms=200, bad_after=3,
                 frozen_ms=1000, rate_hz=None, rxbuf=256, ticks_ms=None):
        self._attach(uart, FrameParser(), _RX_CHUNK, _MAX_CHUNKS, timeout_ms, bad_after,
                     frozen_ms, ticks_ms)
        self.period_ms = period_ms
        self.max_mm = max_mm
        self.beam_half_deg = 1.0  # field of view 2 degrees (TF-Luna product manual)
        self.rxbuf = rxbuf
        self.overflows = 0
        self._rate_hz = rate_hz
        if rate_hz is not None:
            self.set_rate(rate_hz)

    def set_rate(self, hz):
        """Set the output frame rate (1..250 Hz; the chip supports 500/n Hz)."""
        if not 1 <= hz <= 250:
            raise ValueError("hz must be 1..250")
        cmd = bytearray((_CMD_HEADER, 6, _ID_SAMPLE_FREQ, hz & 0xFF, hz >> 8, 0))
        cmd[5] = sum(cmd) & 0xFF
        self._uart.write(cmd)
        self.period_ms = 1000 // hz
        self.timeout_ms = max(self.timeout_ms, 3 * self.period_ms + 100)

    def temperature_c(self):
        """Chip temperature of the last frame, degrees C (int)."""
        return self.parser.temp // 8 - 256

    def measure(self):
        """Latest reading: mm, NO_READING or a SENSOR_* code (see the module docstring)."""
        now = self._ticks_ms()
        stale = self._uart.any() > self.rxbuf - _FRAME_SIZE
        good = self._drain()
        if stale:  # the receive buffer filled up: the newest frames were lost, these are old
            self.overflows += 1
            good = 0
        if good and self._result == wire.SENSOR_TIMEOUT and self._rate_hz:
            self.set_rate(self._rate_hz)  # back after a silence: maybe power-cycled
        return self._update(good, now)

    def _convert(self, now):
        dist = self.parser.dist
        amp = self.parser.amp
        if amp == _AMP_OVEREXPOSED:
            return wire.SENSOR_BLINDED
        if dist == 0 or amp < _AMP_MIN:
            self._forget_raw()  # weak frames may repeat exactly (open sky): never frozen
            return wire.NO_READING
        if self._frozen(dist, amp, now):
            return wire.SENSOR_FROZEN
        mm = dist * 10
        return mm if mm <= self.max_mm else wire.NO_READING
