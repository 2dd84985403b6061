"""The serial link: the one adapter around mpremote's (undocumented) transport.

Everything the host does over USB serial, `socket://` or `rfc2217://` goes through
`SerialTransport`: raw-REPL execution, device API calls, binary-safe session reads and the few
file operations deploy needs. mpremote has no documented API, so nothing else imports it.
"""

from __future__ import annotations

import binascii
import json
import time

from retrorun.errors import RetrorunError
from retrorun.link.transport import TransferError, Transport

API_IMPORT = "import retrofw.api as _api\n"
RAW_REPL_TIMEOUT_S = 0.8  # a board at its prompt (or its app, on Ctrl-C) answers well within this


class DeviceError(RetrorunError):
    """Code raised an exception on the device; the message is its last traceback line."""


class SerialTransport(Transport):
    def __init__(self, port: str, *, baudrate: int = 115200, timeout: float = 10.0,
                 soft_reset: bool = False, restart_app: bool = True):
        """Connect and enter the raw REPL (a running app is interrupted with Ctrl-C).
        `restart_app`: on close, soft-reboot from the friendly prompt so that main.py starts
        the app again; a board the host interrupted must not stay silent at the REPL."""
        try:
            from mpremote.transport import TransportError
            from mpremote.transport_serial import SerialTransport as _MpSerial
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise RetrorunError("mpremote is not installed; pip install retrorun") from exc
        self._transport_error = TransportError
        self.description = port
        self.timeout = timeout
        self.restart_app = restart_app
        try:
            self._mp = _MpSerial(port, baudrate=baudrate)
            self._enter_raw_repl(soft_reset)
        except (TransportError, OSError, ValueError) as exc:  # ValueError: a bad URL
            raise RetrorunError(f"cannot reach a MicroPython board on {port} ({exc}); check the "
                                "cable and the port (retrorun devices lists candidates)") from exc

    def _enter_raw_repl(self, soft_reset: bool) -> None:
        """Enter the raw REPL; if the board does not answer, it may still be waiting for the rest
        of a raw-paste that a dropped link cut short: end it with Ctrl-D and try again."""
        try:
            self._mp.enter_raw_repl(soft_reset=soft_reset, timeout_overall=RAW_REPL_TIMEOUT_S)
        except self._transport_error:
            self._mp.serial.write(b"\x04")
            time.sleep(0.2)
            self._mp.enter_raw_repl(soft_reset=soft_reset)

    # -- raw execution -----------------------------------------------------------------------
    def exec(self, code: str, *, timeout: float | None = None) -> bytes:
        """Run code in the raw REPL; return its stdout. Device exceptions raise DeviceError."""
        try:
            out, err = self._mp.exec_raw(code, timeout=timeout or self.timeout)
        except self._transport_error as exc:
            raise RetrorunError(f"lost the device on {self.description} ({exc}); reconnect and "
                                "run the command again") from exc
        except OSError as exc:
            raise RetrorunError(f"serial link to {self.description} failed ({exc}); reconnect "
                                "and run the command again") from exc
        if err:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            last = lines[-1] if lines else "an error"
            if last.startswith("ImportError") and "retrofw" in last:
                raise DeviceError(f"the retrorun firmware is not on the board on "
                                  f"{self.description} ({last}); run 'retrorun deploy'")
            raise DeviceError(f"the device raised {last}")
        return out

    def call(self, function: str, *args: object) -> dict:
        arguments = ", ".join(repr(a) for a in args)
        out = self.exec(f"{API_IMPORT}_api.{function}({arguments})")
        return parse_answer(function, out)

    def read(self, session: int, offset: int, size: int) -> bytes:
        out = self.exec(f"{API_IMPORT}_api.read({session!r}, {offset}, {size})")
        return decode_read_answer(out, offset)

    # -- files (deploy) ------------------------------------------------------------------------
    def put_file(self, path: str, data: bytes) -> None:
        self._wrap(lambda: self._mp.fs_writefile(path, data, chunk_size=1024), path)

    def get_file(self, path: str) -> bytes:
        return bytes(self._wrap(lambda: self._mp.fs_readfile(path, chunk_size=1024), path))

    def sha256(self, path: str) -> str | None:
        """sha256 hex digest of a device file, or None when it does not exist."""
        code = (f"import hashlib\ntry:\n f=open({path!r},'rb')\nexcept OSError:\n print('-')\n"
                "else:\n h=hashlib.sha256()\n b=bytearray(512)\n while True:\n  n=f.readinto(b)\n"
                "  if not n:\n   break\n  h.update(b[:n])\n f.close()\n"
                " import binascii\n print(binascii.hexlify(h.digest()).decode())\n")
        answer = self.exec(code).decode().strip()
        return None if answer == "-" else answer

    def makedirs(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        code = "import os\n"
        for i in range(1, len(parts) + 1):
            sub = "/" + "/".join(parts[:i])
            code += f"try:\n os.mkdir({sub!r})\nexcept OSError:\n pass\n"
        self.exec(code)

    def soft_reset(self) -> None:
        """Soft-reboot the board and re-enter the raw REPL (boot.py runs, main.py does not)."""
        try:
            self._mp.exit_raw_repl()
            self._mp.enter_raw_repl(soft_reset=True)
        except self._transport_error as exc:
            raise RetrorunError(f"the board on {self.description} did not come back after a "
                                f"soft reset ({exc})") from exc

    def close(self) -> None:
        try:
            self._mp.exit_raw_repl()
            if self.restart_app:
                self._mp.serial.write(b"\x04")  # Ctrl-D at the prompt: boot.py, then main.py
                self._mp.serial.flush()
            self._mp.close()
        except Exception:  # closing a dead link must not hide the real error
            pass

    def _wrap(self, action, path):
        try:
            return action()
        except self._transport_error as exc:
            raise RetrorunError(f"file operation on {path} failed on the device ({exc})") from exc


def parse_answer(function: str, out: bytes) -> dict:
    """The JSON line a retrofw.api function printed; a device-side refusal raises."""
    text = out.decode("utf-8", "replace").strip()
    try:
        answer = json.loads(text.splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as exc:
        raise RetrorunError(f"the device answered {function}() with something that is not "
                            f"JSON ({text[:60]!r}); is the retrorun firmware deployed?") from exc
    if not answer.get("ok", False):
        errors = answer.get("errors") or [answer.get("error", "unknown error")]
        raise RetrorunError(f"the device refused {function}: {'; '.join(map(str, errors))}")
    return answer


def decode_read_answer(out: bytes, offset: int) -> bytes:
    """Bytes from a read() answer: header line, escaped payload; checks offset, length, CRC."""
    from retrofw import wire

    head, sep, body = bytes(out).partition(b"\n")
    if not sep:
        raise RetrorunError("the device's read() answer has no header; is the firmware deployed?")
    try:
        got_offset, length, crc = wire.api_parse_read_header(head.decode("ascii", "replace"))
    except ValueError:
        parse_answer("read", out)  # an {"ok": false, ...} refusal raises with its message
        raise RetrorunError(f"the device's read() answer is garbled ({head[:40]!r})") from None
    try:
        data = wire.api_unescape(body)
    except ValueError as exc:
        raise TransferError(f"read() payload damaged in transit ({exc})") from exc
    if got_offset != offset or len(data) != length or binascii.crc32(data) != crc:
        raise TransferError(f"read() chunk at {offset} failed its check (offset {got_offset}, "
                            f"{len(data)}/{length} bytes, crc mismatch or short read)")
    return data
