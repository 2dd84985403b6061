# The virtual board's job loop (runs after the runtime's set-up, _vbwasi.py or _vbnative.py, as
# one program): ask the host for the next job, compile and run it in the `__main__` globals, and
# report the traceback (or '' / '\x00' for SystemExit). Every frame that stays live while a job
# runs (the top level, _vb_job, _vb_do) is kept under MicroPython's VM_MAX_STATE_ON_STACK (11
# words: locals + value stack + 2 per try block), so on the WASI build it lives on the
# WebAssembly shadow stack, which the garbage collector scans (docs/vboard-app.md).
# Jobs: 'i' run pending interrupt handlers, 'f<path>' run a file (boot.py, main.py), 's<code>'
# a friendly-REPL line ('single' mode), 'x<code>' raw REPL / paste code. Not on a real board.
import sys

import _vb

_vb.G = {"__name__": "__main__"}


def _vb_tb(x):
    if isinstance(x, SystemExit):
        return "\x00"
    import io

    b = io.StringIO()
    sys.print_exception(x, b)
    return b.getvalue()


def _vb_file(path):
    try:
        f = open(path)
        s = f.read()
        f.close()
    except OSError:
        return
    exec(compile(s, path, "exec"), _vb.G)


def _vb_do(j):
    k = j[0]
    if k == "i":
        _vb.service()
    elif k == "f":
        _vb_file(j[1:])
    else:
        exec(compile(j[1:], "<stdin>", "single" if k == "s" else "exec"), _vb.G)


def _vb_job(j):
    try:
        _vb_do(j)
        return ""
    except BaseException as x:
        return _vb_tb(x)


while True:
    _vb_j = _vb._hc("vb", "n")
    if _vb_j == "\x01B":
        _vb_j = _vb._hc("vb", "B")
    _vb._hc("vb", "d" + _vb_job(_vb_j))
