# machine for the retrorun virtual board: shadows the built-in module (a file may, since
# `machine` is an extensible built-in in MicroPython 1.27) and forwards every call to the host's
# hardware models (retrorun/vboard/hw.py) as one short text command. Not used on a real board.
import _vb
from _vb import call as _c

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
PIN_WAKE = EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6
SLEEP = 2
DEEPSLEEP = 4


def _ok(r):
    if r and r[0] == "E":
        _vb.err(r)
    return r


def _hex(buf):
    return bytes(buf).hex()


def _id(pin):
    return pin._id if isinstance(pin, Pin) else int(pin)


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_DOWN = 1
    PULL_UP = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    # the esp32 port also takes drive= and hold=; the board does not model them (TypeError)
    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self._id = int(id)
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None):
        if mode is None:
            mode = -1
        if pull is None:
            pull = 0
        _c("Pi%d %d %d %d" % (self._id, mode, pull, -1 if value is None else (1 if value else 0)))

    def value(self, v=None):
        if v is None:
            return int(_c("Pv%d" % self._id))
        _c("Pw%d %d" % (self._id, 1 if v else 0))

    __call__ = value

    def on(self):
        _c("Pw%d 1" % self._id)

    def off(self):
        _c("Pw%d 0" % self._id)

    def toggle(self):
        _c("Pw%d %d" % (self._id, 1 - int(_c("Pv%d" % self._id))))

    def irq(self, handler=None, trigger=3, wake=None):
        # the esp32 port's Pin.irq takes handler, trigger, wake: no `hard` (its ISR schedules
        # the handler with mp_sched_schedule); hard=... raises TypeError there and here
        key = "p%d" % self._id
        if handler is None:
            _vb.IRQ.pop(key, None)
            _c("Pq%d 0" % self._id)
        else:
            _vb.IRQ[key] = [handler, self]
            _c("Pq%d %d" % (self._id, trigger))
        return _IRQ(self)

    def __repr__(self):
        return "Pin(%d)" % self._id


class _IRQ:
    def __init__(self, pin):
        self._pin = pin

    def trigger(self):
        return 0


class PWM:
    # the esp32 port also takes lightsleep=; invert= is accepted and not modelled
    def __init__(self, dest, freq=None, *, duty=None, duty_u16=None, duty_ns=None, invert=False):
        self._pin = _id(dest)
        self._freq = 5000
        self._duty = 0
        self.init(freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, freq=None, *, duty=None, duty_u16=None, duty_ns=None, invert=False):
        if freq is not None:
            self._freq = int(freq)
        if duty is not None:
            self._duty = min(max(int(duty), 0), 1023) * 65535 // 1023
        if duty_u16 is not None:
            self._duty = min(max(int(duty_u16), 0), 65535)
        if duty_ns is not None:
            self._duty = min(int(duty_ns) * self._freq * 65535 // 1000000000, 65535)
        _c("Wi%d %d %d" % (self._pin, self._freq, self._duty))

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = int(f)
        _c("Wf%d %d" % (self._pin, self._freq))

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = min(max(int(d), 0), 65535)
        _c("Wd%d %d" % (self._pin, self._duty))

    def duty(self, d=None):
        if d is None:
            return self._duty * 1023 // 65535
        self.duty_u16(min(max(int(d), 0), 1023) * 65535 // 1023)

    def duty_ns(self, ns=None):
        if ns is None:
            return self._duty * 1000000000 // (65535 * self._freq)
        self.duty_u16(int(ns) * self._freq * 65535 // 1000000000)

    def deinit(self):
        _c("Wx%d" % self._pin)


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        self._bus = -1 if id is None else int(id)
        _ok(_c("Ii%d %d %d %d" % (self._bus, -1 if scl is None else _id(scl),
                                  -1 if sda is None else _id(sda), freq)))

    def deinit(self):
        pass

    def scan(self):
        r = _c("Is%d" % self._bus)
        return [int(a) for a in r.split()]

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        return bytes.fromhex(_ok(_c("Ir%d %d %d %d" % (self._bus, addr, memaddr, nbytes))))

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        data = bytes.fromhex(_ok(_c("Ir%d %d %d %d" % (self._bus, addr, memaddr, len(buf)))))
        buf[: len(data)] = data

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        _ok(_c("Iw%d %d %d %s" % (self._bus, addr, memaddr, _hex(buf))))

    def readfrom(self, addr, nbytes, stop=True):
        return bytes.fromhex(_ok(_c("IR%d %d %d" % (self._bus, addr, nbytes))))

    def readfrom_into(self, addr, buf, stop=True):
        data = bytes.fromhex(_ok(_c("IR%d %d %d" % (self._bus, addr, len(buf)))))
        buf[: len(data)] = data

    def writeto(self, addr, buf, stop=True):
        return int(_ok(_c("IW%d %d %s" % (self._bus, addr, _hex(buf)))))

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(v) for v in vector)
        return int(_ok(_c("IW%d %d %s" % (self._bus, addr, _hex(data)))))



class UART:
    # the esp32 port also takes rts, cts, txbuf, timeout, timeout_char, invert and flow; the
    # board does not model them (TypeError), nor bits/parity/stop (accepted, 8N1 assumed)
    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, *, tx=None, rx=None,
                 rxbuf=256):
        self._id = int(id)
        self.init(baudrate, bits, parity, stop, tx=tx, rx=rx, rxbuf=rxbuf)

    def init(self, baudrate=115200, bits=8, parity=None, stop=1, *, tx=None, rx=None,
             rxbuf=256):
        self._baud = baudrate
        _c("Ui%d %d %d %d %d" % (self._id, baudrate, -1 if tx is None else _id(tx),
                                 -1 if rx is None else _id(rx), rxbuf))

    def deinit(self):
        pass

    def any(self):
        return int(_c("Ua%d" % self._id))

    def read(self, nbytes=-1):
        r = _c("Ur%d %d" % (self._id, -1 if nbytes is None else nbytes))
        return None if r == "N" else bytes.fromhex(r)

    def readinto(self, buf, nbytes=-1):
        n = len(buf) if nbytes is None or nbytes < 0 else min(nbytes, len(buf))
        data = self.read(n)
        if data is None:
            return None
        buf[: len(data)] = data
        return len(data)

    def readline(self):
        out = b""
        while True:
            c = self.read(1)
            if not c:
                return out or None
            out += c
            if c == b"\n":
                return out

    def write(self, buf):
        return int(_c("Uw%d %s" % (self._id, _hex(buf))))

    def flush(self):
        pass

    def txdone(self):
        return True


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 9
    WIDTH_10BIT = 10
    WIDTH_11BIT = 11
    WIDTH_12BIT = 12

    def __init__(self, id, *, atten=None):
        self._pin = _id(id)
        self._bits = 12
        _c("Ai%d" % self._pin)
        self.atten(3 if atten is None else atten)

    def init(self, *, atten=None):
        if atten is not None:
            self.atten(atten)

    def atten(self, a):
        _c("At%d %d" % (self._pin, a))

    def width(self, bits):
        self._bits = bits

    def read_u16(self):
        return int(_c("Au%d" % self._pin))

    def read_uv(self):
        return int(_c("Av%d" % self._pin))

    def read(self):
        return self.read_u16() >> (16 - self._bits)


class WDT:
    def __init__(self, id=0, timeout=5000):
        _c("Di%d" % timeout)

    def feed(self):
        _c("Df")


class RTC:
    def init(self, dt):
        self.datetime(dt)

    def datetime(self, dt=None):
        if dt is None:
            return tuple(int(a) for a in _c("Rd").split())
        dt = tuple(dt) + (0,) * (8 - len(dt))
        _c("Rs" + " ".join(str(int(a)) for a in dt))

    def memory(self, data=None):
        if data is None:
            return bytes.fromhex(_c("Rm"))
        _c("Rm" + _hex(data))


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    # the esp32 port also takes hard=; the board runs every callback soft (TypeError)
    def __init__(self, id, *, mode=1, period=-1, freq=-1, callback=None, tick_hz=1000):
        self._id = int(id)
        if callback is not None or period != -1 or freq != -1:
            self.init(mode=mode, period=period, freq=freq, callback=callback, tick_hz=tick_hz)

    def init(self, *, mode=1, period=-1, freq=-1, callback=None, tick_hz=1000):
        if freq > 0:
            us = 1000000 // freq
        else:
            us = int(period) * 1000000 // tick_hz
        if callback is not None:
            _vb.IRQ["t%d" % self._id] = [callback, self]
        _c("Ci%d %d %d" % (self._id, mode, us))

    def deinit(self):
        _vb.IRQ.pop("t%d" % self._id, None)
        _c("Cx%d" % self._id)


def reset():
    _c("Mr")


def soft_reset():
    _c("Ms")


def deepsleep(ms=0):
    _c("MD%d" % ms)


def lightsleep(ms=0):
    _vb.sleep_us(int(ms) * 1000)


def idle():
    _vb.wait(-1)


def reset_cause():
    return int(_c("Mc"))


def wake_reason():
    return int(_c("Mw"))


def unique_id():
    return bytes.fromhex(_c("Mu"))


def freq(hz=None):
    if hz is None:
        return int(_c("Mf"))
    _c("Mf%d" % hz)


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    return int(_c("Mp%d %d %d" % (_id(pin), pulse_level, timeout_us)))


def disable_irq():
    return 0


def enable_irq(state):
    pass
