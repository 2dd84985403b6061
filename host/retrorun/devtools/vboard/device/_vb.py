# The virtual board's link to its host (retrorun vboard, app mode). Exists only on the virtual
# board: machine.py, time.py, select.py and esp32.py in this folder talk to the host through call().
#
# Protocol: _hc("vb", "<command>") -> answer text; the bootstrap sets _hc to the runtime's host
# call (the WASI build's host.call, or _vbpipe.call over two pipes on the native Unix port). An answer starting with "\x01" carries a
# control code first: "\x01K" = Ctrl-C arrived (raise KeyboardInterrupt here), "\x01B" = the
# answer is long (fetch it with "B", the host then grants a buffer that fits), "\x01I<answer>" =
# interrupt handlers are pending (run them, then use <answer>).
_hc = None  # set by the bootstrap
btime = None  # the built-in time module, set by the bootstrap before anything imports time
bos = None  # the built-in os module, likewise
bgc = None  # the built-in gc module, likewise
bvfs = None  # the built-in vfs module, likewise
bselect = None  # the built-in select module, likewise
ROMFS_BUILD = False  # whether this MicroPython has ROMFS (vfs.rom_ioctl, vfs.VfsRom): _vbvfs.py
UNAME = ()  # os.uname() fields of the esp32 port for the board's chip (set by the host)
REAL_GC = False  # whether gc.collect() really collects (AppDevice(real_gc=...))
HOST_ROOT = None  # native runtime: the board's / through a root-less VfsPosix (os.rename)
C0 = 0  # asyncio's clock at boot, in the port's ticks_ms domain (_vbclock.py)
IRQ = {}  # key ("p13", "t0", ...) -> [handler, argument]
_in_irq = False


def keep_builtins(time, os, gc, vfs, select):
    """The built-in modules the files here shadow, imported by the set-up before sys.path has
    this folder (the stand-ins use them)."""
    global btime, bos, bgc, bvfs, bselect
    btime, bos, bgc, bvfs, bselect = time, os, gc, vfs, select


def call(msg):
    r = _hc("vb", msg)
    if r and r[0] == "\x01":
        c = r[1]
        if c == "K":
            raise KeyboardInterrupt
        if c == "B":
            return _hc("vb", "B")
        if c == "I":
            r = r[2:]
            service()
    return r


def service():
    """Run the interrupt handlers the host says are pending (soft IRQs, one at a time)."""
    global _in_irq
    if _in_irq:
        return
    _in_irq = True
    try:
        for key in _hc("vb", "q").split():
            h = IRQ.get(key)
            if h is None:
                continue
            try:
                h[0](h[1])
            except KeyboardInterrupt:
                raise
            except Exception as e:  # as MicroPython does for a failing IRQ callback
                import sys

                print("Unhandled exception in IRQ callback handler")
                sys.print_exception(e)
    finally:
        _in_irq = False


def wait(us):
    """Let `us` microseconds of virtual time pass, or less when interrupts are pending
    (-1: until the next hardware event). Returns the microseconds still to wait."""
    return int(call("w%d" % us))


def sleep_us(us):
    while us > 0:
        us = wait(us)


def err(code):
    """Raise the OSError a host answer "E<errno>" stands for."""
    raise OSError(int(code[1:]))


def input(prompt=""):  # noqa: A001 - replaces the builtin: reads the serial port, as a board does
    if prompt:
        print(prompt, end="")
    return call("r")
