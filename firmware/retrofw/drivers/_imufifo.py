"""What the MPU-6050/6500 and LSM6DS3/DSO drivers share: a FIFO-batched accelerometer.

`FifoAccel` holds the chip-independent part: register access over I2C, burst reads of the FIFO
into views made once, averaging k chip samples into one delivered sample, conversion to mg
(+-8 g: 4096 LSB/g, +-16 g: 2048 LSB/g, so mg = raw * 125 >> 9 or >> 8) and the stuck-chip
check (`_STUCK_SAMPLES` identical raw samples in a row). A driver subclass supplies the chip
facts: `_attach(...)` with its output registers, then WHO_AM_I, then `_batching(...)` with its
FIFO word layout, `_available()` (FIFO words waiting, -1 on overrun), `reset_fifo()` (which
ends with `_clear_average()`) and `_setup()` (the chip's configuration, written at start-up and
again after a bus failure: a chip that lost power is back at its defaults).
`read_fifo` never raises for the bus: a failed transfer (NACK, SDA held low) returns 0, counts
`bus_errors` and sets `lost`; the next call sets the chip up again before reading.
The per-sample path (`read_fifo`, `_sample`) allocates nothing.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_CHUNK = const(16)  # FIFO words per burst read
_RATE_MIN_HZ = const(25)  # the config schema's steps.rate_hz range (retrofw.settings)
_RATE_MAX_HZ = const(100)
_STUCK_SAMPLES = const(32)


class FifoAccel:
    """Base of the FIFO-batched accelerometer drivers (see the module docstring)."""

    def _attach(self, i2c, addr, rate_hz, range_g, out_reg, big_endian):
        """Check the arguments, keep the bus, make the small buffers.

        out_reg: first of the 6 output registers (X, Y, Z) that `read` reads; big_endian: byte
        order of their 16-bit values and of the FIFO's.
        """
        if not (_RATE_MIN_HZ <= rate_hz <= _RATE_MAX_HZ):
            raise ValueError("rate_hz must be %d-%d" % (_RATE_MIN_HZ, _RATE_MAX_HZ))
        if range_g not in (8, 16):
            raise ValueError("range_g must be 8 or 16")
        self._i2c = i2c
        self._addr = addr
        self._b1 = bytearray(1)
        self._one = bytearray(6)
        self._out_reg = out_reg
        self._little = not big_endian
        self.lost = False
        self.bus_errors = 0

    def _batching(self, word, data_reg, tag, k, range_g):
        """Set the FIFO layout and the averaging state.

        word: bytes per FIFO word holding X, Y, Z; data_reg: the register burst reads stream
        the FIFO from; tag: -1 for untagged words, else each word starts with a tag byte and
        only words whose bits 7:3 equal `tag` are samples; k: chip samples averaged into one
        delivered sample; range_g: 8 or 16.
        """
        self._word = word
        self._data_reg = data_reg
        self._tag = tag
        self._burst = bytearray(word * _CHUNK)
        # views of 1.._CHUNK words, made once so a batch read allocates nothing
        self._views = [memoryview(self._burst)[: word * (i + 1)] for i in range(_CHUNK)]
        self._k = k
        self.range_g = range_g
        self._shift = 9 if range_g == 8 else 8  # mg = raw * 125 >> shift
        self.overflows = 0
        self.stuck = False
        self._same = 0
        self._last0 = 0
        self._last1 = 0
        self._last2 = 0
        self._acc0 = 0
        self._acc1 = 0
        self._acc2 = 0
        self._nacc = 0

    def _read8(self, reg):
        self._i2c.readfrom_mem_into(self._addr, reg, self._b1)
        return self._b1[0]

    def _write8(self, reg, value):
        self._b1[0] = value
        self._i2c.writeto_mem(self._addr, reg, self._b1)

    def _clear_average(self):
        self._nacc = 0
        self._acc0 = self._acc1 = self._acc2 = 0

    def read(self, out):
        """One current sample (not from the FIFO) into out[0:3], mg."""
        self._i2c.readfrom_mem_into(self._addr, self._out_reg, self._one)
        b = self._one
        hi = 1 if self._little else 0  # index of the high byte of each 16-bit value
        sh = self._shift
        for j in range(3):
            v = (b[2 * j + hi] << 8) | b[2 * j + 1 - hi]
            if v >= 32768:
                v -= 65536
            out[j] = (v * 125) >> sh

    def read_fifo(self, out, max_samples):
        """Move up to `max_samples` samples into `out` (X, Y, Z mg interleaved); return how many.

        Returns 0 after an overrun (the FIFO is reset and `overflows` counts it) and when the
        bus fails (`lost`, `bus_errors`: see the module docstring); never raises OSError.
        """
        try:
            if self.lost:
                self._setup()
                self.lost = False
                return 0
            return self._read_fifo(out, max_samples)
        except OSError:
            self.bus_errors += 1
            self.lost = True
            self._clear_average()
            return 0

    def _setup(self):
        raise NotImplementedError

    def _read_fifo(self, out, max_samples):
        avail = self._available()
        if avail < 0:
            self.overflows += 1
            self.reset_fifo()
            return 0
        reg = self._data_reg
        tag = self._tag
        off = 1 if tag >= 0 else 0  # the tag byte comes before X, Y, Z
        w = self._word
        n = 0
        k = self._k
        while avail > 0 and n < max_samples:
            # as many whole words as fit the burst, the FIFO and the caller's buffer
            take = (max_samples - n) * k - self._nacc
            if take > avail:
                take = avail
            if take > _CHUNK:
                take = _CHUNK
            if take < 1:
                take = 1
            buf = self._views[take - 1]
            self._i2c.readfrom_mem_into(self._addr, reg, buf)
            avail -= take
            i = 0
            while i < take * w:
                if off == 0 or (buf[i] >> 3) == tag:
                    n += self._sample(buf, i + off, out, n)
                i += w
        return n

    def _available(self):
        raise NotImplementedError

    def reset_fifo(self):
        raise NotImplementedError

    def _sample(self, b, i, out, n):
        if self._little:
            x = b[i] | (b[i + 1] << 8)
            y = b[i + 2] | (b[i + 3] << 8)
            z = b[i + 4] | (b[i + 5] << 8)
        else:
            x = (b[i] << 8) | b[i + 1]
            y = (b[i + 2] << 8) | b[i + 3]
            z = (b[i + 4] << 8) | b[i + 5]
        if x == self._last0 and y == self._last1 and z == self._last2:
            self._same += 1
            if self._same >= _STUCK_SAMPLES:
                self.stuck = True
        else:
            self._same = 0
            self.stuck = False
            self._last0 = x
            self._last1 = y
            self._last2 = z
        if x >= 32768:
            x -= 65536
        if y >= 32768:
            y -= 65536
        if z >= 32768:
            z -= 65536
        self._acc0 += x
        self._acc1 += y
        self._acc2 += z
        self._nacc += 1
        if self._nacc < self._k:
            return 0
        sh = self._shift
        k = self._k
        j = 3 * n
        out[j] = ((self._acc0 // k) * 125) >> sh
        out[j + 1] = ((self._acc1 // k) * 125) >> sh
        out[j + 2] = ((self._acc2 // k) * 125) >> sh
        self._acc0 = self._acc1 = self._acc2 = 0
        self._nacc = 0
        return 1
