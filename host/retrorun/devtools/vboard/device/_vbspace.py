# A filesystem with a size for the retrorun virtual board (fault injection: a full flash, a
# power cut in the middle of a write): the board's folder (a VfsPosix) seen through a VFS that
# asks the host (faults.FlashSpace, host call "S") before every write. A write the host refuses
# raises OSError(ENOSPC) and writes nothing; a write cut short by a power cut puts the bytes
# the host allows on flash, then the board is reset at the next host call. Files opened for
# reading are the VfsPosix files themselves. Mounted at / by _vbnative.py when the host set
# hw.flash_space. Not used on a real board.
import io

import _vb

_ENOSPC = 28


class SpaceFile(io.IOBase):
    def __init__(self, f, path, append):
        self._f = f
        self._path = path
        self._append = append  # O_APPEND: every write goes to the end, whatever tell() says

    def write(self, data):
        n = len(data)
        if not n:
            return 0
        if self._append:
            grow = n
        else:
            pos = self._f.tell()
            size = self._f.seek(0, 2)
            self._f.seek(pos)
            grow = pos + n - size
        r = _vb.call("Sw%d %d %s" % (n, grow if grow > 0 else 0, self._path))
        if r and r[0] == "E":
            _vb.err(r)
        k = int(r)
        if k < n:  # the power goes: the first k bytes reach the flash
            self._f.write(memoryview(data)[:k] if k else b"")
            self._f.flush()
            while True:
                _vb.call("Sx")
        return self._f.write(data)

    def readinto(self, buf):
        return self._f.readinto(buf)

    def read(self, n=-1):
        return self._f.read(n)

    def seek(self, offset, whence=0):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def flush(self):
        return self._f.flush()

    def close(self):
        return self._f.close()

    def ioctl(self, op, arg):
        if op == 1:  # MP_STREAM_FLUSH
            self._f.flush()
            return 0
        if op == 4:  # MP_STREAM_CLOSE
            self._f.close()
            return 0
        return -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


class SpaceVfs:
    def __init__(self, inner):
        self._v = inner

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def ilistdir(self, path):
        return self._v.ilistdir(path)

    def chdir(self, path):
        return self._v.chdir(path)

    def getcwd(self):
        return self._v.getcwd()

    def mkdir(self, path):
        return self._v.mkdir(path)

    def remove(self, path):
        return self._v.remove(path)

    def rename(self, old, new):
        return self._v.rename(old, new)

    def rmdir(self, path):
        return self._v.rmdir(path)

    def stat(self, path):
        return self._v.stat(path)

    def statvfs(self, path):
        blocks, free = (int(x) for x in _vb.call("Sv").split())
        return (4096, 4096, blocks, free, free, 0, 0, 0, 0, 255)

    def open(self, path, mode):
        f = self._v.open(path, mode)
        if "w" in mode or "a" in mode or "+" in mode:
            return SpaceFile(f, path, "a" in mode)
        return f
