"""The serial side of the virtual board's app mode: MicroPython's REPL as a client sees it.

`Console` (a part of `repl.AppDevice`) turns the bytes a serial client sends into REPL
behaviour: the friendly REPL (echo, line editing, auto-indent, paste mode), the raw REPL
(Ctrl-A ... Ctrl-D, `OK`, stdout, `\\x04`, traceback, `\\x04`, `>`), raw-paste with flow
control (`\\x05A\\x01` -> `R\\x01` + window), soft reboots, Ctrl-C, and input that arrives while
code runs (queued, as the UART ring buffer holds it). Code is handed to the VM as jobs
(`_submit`); their results come back through `_finish`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from retrorun.devtools.vboard import hw as hwmod

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
RAW_PASTE_WINDOW = 256
_BOOT_FRAME = re.compile(r", in (_vb_job|_vb_do|_vb_file)$")  # the job loop's own frames


class Reboot(Exception):
    """Raised from a host call to end the VM: ('soft'|'soft_raw'|'hard'|'interrupt', cause)."""

    def __init__(self, kind: str, cause: int = hwmod.PWRON_RESET):
        super().__init__(kind)
        self.kind = kind
        self.cause = cause


class Console:
    """REPL state machine and output of an AppDevice (see repl.py for the state it uses)."""

    def _out(self, data: bytes) -> None:
        if data:
            with self._wlock:
                try:
                    self._write_cb(bytes(data))
                except Exception:  # a gone client must not stop the board
                    self.write_errors += 1

    def _out_cooked(self, data: bytes) -> None:
        self._out(bytes(data).replace(b"\n", b"\r\n"))

    # ---- serial input ----------------------------------------------------------------------
    def on_data(self, data: bytes) -> None:
        """Bytes from the serial client."""
        if self._closed or self.dead:
            return
        with self._lock:
            for byte in bytes(data):
                if self.busy and self._rawpaste is None:
                    if byte == 0x03:
                        self._interrupt()
                    else:
                        self._pending.append(byte)
                        self._wake()
                    continue
                self._feed(byte)

    def _feed(self, byte: int) -> None:
        if self._rawpaste is not None:
            self._feed_rawpaste(byte)
        elif self.mode == "raw":
            self._feed_raw(byte)
        else:
            self._feed_friendly(byte)

    def _drain_pending(self) -> None:
        while self._pending and not self.busy:
            byte = self._pending.pop(0)
            self._feed(byte)

    # raw REPL
    def _feed_raw(self, byte: int) -> None:
        if byte == 0x01:  # Ctrl-A: reset raw REPL, or raw-paste request after \x05A
            if self._raw == b"\x05A":
                self._raw.clear()
                self._rawpaste = {"buf": bytearray(), "since": 0}
                self._out(b"R\x01" + struct.pack("<H", RAW_PASTE_WINDOW))
                return
            self._raw.clear()
            self._out(RAW_BANNER + b">")
        elif byte == 0x02:  # Ctrl-B: friendly REPL
            self._raw.clear()
            self.mode = "friendly"
            self._out(b"\r\n" + self.banner + b">>> ")
        elif byte == 0x03:
            self._raw.clear()
        elif byte == 0x04:
            code = bytes(self._raw)
            self._raw.clear()
            if not code:
                self._out(b"OK\r\nMPY: soft reboot\r\n")
                self._request_reboot(Reboot("soft_raw"))
                return
            self._out(b"OK")
            self._submit("x", code, self._done_raw)
        else:
            self._raw.append(byte)

    def _feed_rawpaste(self, byte: int) -> None:
        state = self._rawpaste
        if byte == 0x04:
            code = bytes(state["buf"])
            self._rawpaste = None
            self._out(b"\x04")
            self._submit("x", code, self._done_raw)
            return
        state["buf"].append(byte)
        state["since"] += 1
        if state["since"] >= RAW_PASTE_WINDOW:
            state["since"] = 0
            self._out(b"\x01")

    def _done_raw(self, err: str) -> None:
        if err == "\x00":  # SystemExit: soft reboot, as pyexec does
            self._out(b"\x04\x04")
            self._out(b"MPY: soft reboot\r\n")
            self._request_reboot(Reboot("soft_raw"))
            return
        self._out(b"\x04" + err.encode().replace(b"\n", b"\r\n") + b"\x04>")

    # friendly REPL
    def _prompt(self) -> bytes:
        return b"... " if self._cont else b">>> "

    def _feed_friendly(self, byte: int) -> None:
        if self._paste is not None:
            self._feed_paste(byte)
            return
        if self._esc:  # swallow ESC [ x sequences (arrow keys)
            self._esc = 2 if (self._esc == 1 and byte == ord("[")) else 0
            return
        if byte == 0x1B:
            self._esc = 1
        elif byte == 0x01:  # Ctrl-A: raw REPL
            self._line.clear()
            self._cont.clear()
            self.mode = "raw"
            self._raw.clear()
            self._out(b"\r\n" + RAW_BANNER + b">")
        elif byte == 0x02:  # Ctrl-B: banner
            self._line.clear()
            self._cont.clear()
            self._out(b"\r\n" + self.banner + b">>> ")
        elif byte == 0x03:  # Ctrl-C: drop the line
            self._line.clear()
            self._cont.clear()
            self._out(b"\r\n>>> ")
        elif byte == 0x04:  # Ctrl-D: soft reboot on an empty line
            if self._line or self._cont:
                return
            self._out(b"\r\nMPY: soft reboot\r\n")
            self._request_reboot(Reboot("soft"))
        elif byte == 0x05:  # Ctrl-E: paste mode
            self._line.clear()
            self._cont.clear()
            self._paste = bytearray()
            self._out(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
        elif byte in (0x08, 0x7F):
            if self._line:
                self._line.pop()
                self._out(b"\x08 \x08")
        elif byte == 0x0D:
            self._out(b"\r\n")
            line = self._line.decode("utf-8", "replace")
            self._line = bytearray()
            self._enter_line(line)
        elif byte == 0x0A:
            pass
        elif byte >= 0x20 or byte == 0x09:
            self._line.append(byte)
            self._out(bytes([byte]))

    def _enter_line(self, line: str) -> None:
        self._cont.append(line)
        source = "\n".join(self._cont)
        if _needs_more(source, len(self._cont)):
            # auto-indent as MicroPython's REPL does: the previous indent, +4 after a colon
            indent = len(line) - len(line.lstrip(" "))
            if line.rstrip().endswith(":"):
                indent += 4
            self._line = bytearray(b" " * indent)
            self._out(b"... " + bytes(self._line))
            return
        self._cont.clear()
        if not source.strip():
            self._out(b">>> ")
            return
        self._submit("s", (source + "\n").encode(), self._done_friendly)

    def _feed_paste(self, byte: int) -> None:
        if byte == 0x03:
            self._paste = None
            self._out(b"\r\n>>> ")
        elif byte == 0x04:
            code = bytes(self._paste)
            self._paste = None
            self._out(b"\r\n")
            self._submit("x", code, self._done_friendly)
        elif byte == 0x0D:
            self._paste.append(0x0A)
            self._out(b"\r\n=== ")
        elif byte != 0x0A:
            self._paste.append(byte)
            self._out(bytes([byte]))

    def _done_friendly(self, err: str) -> None:
        if err == "\x00":
            self._out(b"MPY: soft reboot\r\n")
            self._request_reboot(Reboot("soft"))
            return
        self._out(err.encode().replace(b"\n", b"\r\n") + b">>> ")

    # ---- jobs ---------------------------------------------------------------------------------
    def _submit(self, kind: str, code: bytes, on_done: Callable[[str], None],
                front: bool = False) -> None:
        with self._lock:
            self.busy = True
            job = (kind + code.decode("utf-8", "replace"), on_done)
            if front:
                self._jobs.appendleft(job)
            else:
                self._jobs.append(job)
            self._cond.notify_all()

    def _finish(self, err: str) -> None:
        if ", in _vb_" in err:  # hide the bootstrap's own frames, as a board shows none
            err = "\n".join(line for line in err.split("\n")
                             if not _BOOT_FRAME.search(line))
        with self._lock:
            done, self._current = self._current, None
            self._cancel_kbd_timer()
            self._kbd = False
            if not self._jobs:
                self.busy = False
            if done is not None:
                done(err)
            self._drain_pending()


def _needs_more(source: str, nlines: int) -> bool:
    """Friendly REPL: does the statement typed so far continue on the next line?"""
    depth = 0
    quote = ""
    i = 0
    while i < len(source):
        c = source[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if source.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif c == "#":
            nl = source.find("\n", i)
            i = len(source) if nl < 0 else nl
            continue
        elif source.startswith('"""', i) or source.startswith("'''", i):
            quote = source[i:i + 3]
            i += 3
            continue
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    if len(quote) == 3 or depth > 0:
        return True
    last = source.split("\n")[-1]
    if last.rstrip().endswith("\\"):
        return True
    # as MicroPython's REPL: a statement starting with a compound keyword goes on until an
    # empty line
    first = source.lstrip()
    compound = first.startswith("@") or any(
        first.startswith(k) and (len(first) == len(k) or not (first[len(k)].isalnum()
                                                              or first[len(k)] == "_"))
        for k in ("if", "while", "for", "def", "class", "try", "with", "async"))
    return compound and (nlines == 1 or last.strip() != "")
