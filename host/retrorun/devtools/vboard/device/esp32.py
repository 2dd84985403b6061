# esp32 for the retrorun virtual board: the parts an app uses around deep sleep, plus sensor
# readings with fixed values, and Partition over the board's flash file. Not used on a real board.
import _vb
from _vb import call as _c

WAKEUP_ALL_LOW = 0
WAKEUP_ANY_HIGH = 1
HEAP_DATA = 4
HEAP_EXEC = 1


def wake_on_ext0(pin, level=0):
    if _c("Me%d %d" % (-1 if pin is None else (pin._id if hasattr(pin, "_id") else int(pin)),
                       1 if level else 0)) == "X":
        raise ValueError("invalid pin")


def wake_on_ext1(pins, level=0):
    pins = tuple(pins or ())
    if pins:
        wake_on_ext0(pins[0], level)


def wake_on_touch(wake):
    pass


def wake_on_ulp(wake):
    pass


def raw_temperature():
    return 113  # Fahrenheit, as the ESP32's sensor reports


def idf_heap_info(capabilities):
    return [(262144, 131072, 65536, 120000)]


# -- flash partitions (the partition table in the board's flash file, read through the host) --

def _blob(cmd):
    r = _c(cmd)
    if r[:1] == "E":
        _vb.err(r)
    return r


class Partition:
    """esp32.Partition over the virtual board's flash (block device protocol, 4 KB blocks)."""

    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=4096):  # noqa: A002 - MicroPython's parameter name
        if isinstance(id, tuple):
            self._p = id
        else:
            label = "factory" if id in (0, 1) else id
            found = [p for p in _table() if p[0] == label]
            if not found:
                raise ValueError("partition not found")
            self._p = found[0]
        self.block_size = block_size

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None, block_size=4096):  # noqa: A002
        return [Partition(p, block_size) for p in _table()
                if p[1] == type and subtype in (0xFF, p[2]) and label in (None, p[0])]

    def info(self):
        p = self._p
        return (p[1], p[2], p[3], p[4], p[0], False)

    def _range(self, block, offset, length):
        start = block * self.block_size + offset
        if start < 0 or start + length > self._p[4]:
            raise OSError(22)
        return self._p[3] + start

    def readblocks(self, block, buf, offset=0):
        addr = self._range(block, offset, len(buf))
        step = 2048
        for i in range(0, len(buf), step):
            n = min(step, len(buf) - i)
            buf[i:i + n] = bytes.fromhex(_blob("Fr%d %d" % (addr + i, n)))

    def writeblocks(self, block, buf, offset=None):
        addr = self._range(block, offset or 0, len(buf))
        if offset is None:  # the simple interface erases the blocks first
            _blob("Fe%d %d" % (addr, len(buf)))
        step = 2048
        mv = memoryview(buf)
        for i in range(0, len(buf), step):
            _blob("Fw%d %s" % (addr + i, bytes(mv[i:i + step]).hex()))

    def ioctl(self, op, arg):
        if op == 4:
            return self._p[4] // self.block_size
        if op == 5:
            return self.block_size
        if op == 6:
            _blob("Fe%d %d" % (self._range(arg, 0, self.block_size), self.block_size))
            return 0
        return 0 if op in (1, 2, 3) else None

    def __repr__(self):
        p = self._p
        return "<Partition type=%d, subtype=%d, address=%d, size=%d, label=%s, encrypted=0>" % (
            p[1], p[2], p[3], p[4], p[0])


def _table():
    rows = []
    for entry in _c("Fl").split(";"):
        if entry:
            f = entry.split(" ")
            rows.append((f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4])))
    return rows
