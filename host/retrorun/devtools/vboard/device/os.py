# os for the retrorun virtual board: the built-in os, with what an ESP32's os has and the WASI
# build lacks: ilistdir() giving (name, type, inode, size) 4-tuples, and statvfs() of a 2 MB
# littlefs partition or of the size fault injection gave it (the WASI build answers ENOSYS);
# uname() as the esp32 port answers it (machine: "<board name> with <MCU>", the chip the board
# is; the Unix port has no uname);
# on the native port, rename() past a VfsPosix(root) bug (_vbnative.py). Not used on a real
# board.
import _vb

_o = _vb.bos
for _n in dir(_o):
    if not _n.startswith("__"):
        globals()[_n] = getattr(_o, _n)


def ilistdir(path=""):
    base = path if path else getcwd()  # noqa: F821 - copied from the built-in above
    if base != "/" and base.endswith("/"):
        base = base[:-1]
    for entry in _o.ilistdir(path) if path else _o.ilistdir():
        name, kind = entry[0], entry[1]
        size = 0
        if kind == 0x8000:
            try:
                size = _o.stat(base + "/" + name if base != "/" else "/" + name)[6]
            except OSError:
                pass
        yield (name, kind, 0, size)


def uname():
    from collections import namedtuple  # both runtimes have it (tests/vboard/test_app_repl.py)

    return namedtuple("uname_result", ("sysname", "nodename", "release", "version",
                                       "machine"))(*_vb.UNAME)


def statvfs(path):
    # a 2 MB partition with 448 of 512 blocks free, or the size a fault gave it (_vbspace.py)
    blocks, free = (int(x) for x in _vb.call("Sv").split())
    return (4096, 4096, blocks, free, free, 0, 0, 0, 0, 255)


if _vb.HOST_ROOT:

    def _host_path(path):
        if not path.startswith("/"):
            cwd = getcwd()  # noqa: F821 - copied from the built-in above
            path = (cwd if cwd.endswith("/") else cwd + "/") + path
        if path.startswith("/_vb") or path == "/rom" or path.startswith("/rom/"):
            raise OSError(30)  # EROFS: the board's read-only mounts
        return _vb.HOST_ROOT + path

    def rename(old, new):
        _o.rename(_host_path(old), _host_path(new))
