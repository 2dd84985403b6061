"""The serial link: the one adapter around mpremote's (undocumented) transport.

Everything the host does over USB serial, `socket://` or `rfc2217://` goes through
`SerialTransport`: raw-REPL execution, device API calls, binary-safe session reads and the few
file operations deploy needs. mpremote has no documented API, so nothing else imports it.
"""

from __future__ import annotations

import ast
import binascii
import contextlib
import io
import json
import time

from retrorun.errors import RetrorunError
from retrorun.link.transport import TransferError, Transport, check_answer

API_IMPORT = "import retrofw.api as _api\n"
RAW_REPL_TIMEOUT_S = 0.8  # a board at its prompt (or its app, on Ctrl-C) answers well within this
RAW_REPL_RETRY_S = 1.5  # the second try, after ending a raw-paste a dropped link cut short


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
        self._seen = b""  # what the port said while the raw REPL was being entered
        self.ended_recording: int | None = None  # set by connect.open_repl
        check_port_free(port)
        # mpremote prints what it read when the raw REPL fails (and "waiting" dots): keep
        # stdout for the promised output (one JSON document with --json)
        with contextlib.redirect_stdout(io.StringIO()) as said:
            try:
                self._mp = _MpSerial(port, baudrate=baudrate)
                self._enter_raw_repl(soft_reset)
            except (TransportError, OSError, ValueError) as exc:  # ValueError: a bad URL
                self._seen = _printed_bytes(said.getvalue())
                self._close_quietly()
                raise RetrorunError(f"cannot reach a MicroPython board on {port}: "
                                    f"{diagnose(port, self._seen, exc)}") from exc

    def set_clock(self, unix: int | None = None) -> bool:
        """Set the board's clock to the laptop's (retrofw.api.clock); False when the firmware
        cannot (not deployed yet, or older than the clock request)."""
        now = int(time.time() if unix is None else unix)
        try:
            parse_answer("clock", self.exec(f"{API_IMPORT}_api.clock({now})"))
        except RetrorunError:
            return False
        return True

    def _close_quietly(self) -> None:
        mp = getattr(self, "_mp", None)
        if mp is not None:
            try:
                mp.close()
            except Exception:  # already gone
                pass

    def _enter_raw_repl(self, soft_reset: bool) -> None:
        """Enter the raw REPL; if the board does not answer, it may still be waiting for the rest
        of a raw-paste that a dropped link cut short: end it with Ctrl-D and try again."""
        try:
            self._mp.enter_raw_repl(soft_reset=soft_reset, timeout_overall=RAW_REPL_TIMEOUT_S)
        except self._transport_error:
            self._mp.serial.write(b"\x04")
            time.sleep(0.2)
            self._mp.enter_raw_repl(soft_reset=soft_reset, timeout_overall=RAW_REPL_RETRY_S)

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

    def reset_board(self, *, timeout: float = 5.0) -> bool:
        """Soft-reset the board (Ctrl-D at the friendly prompt): the app stops, boot.py and
        main.py run again. True when the board said "soft reboot". Closes the link."""
        try:
            self._mp.exit_raw_repl()
            self._mp.serial.write(b"\x04")
            self._mp.serial.flush()
            said = self._mp.read_until(1, b"soft reboot", timeout=timeout)
        except (self._transport_error, OSError) as exc:
            raise RetrorunError(f"the board on {self.description} did not answer the reset "
                                f"({exc}); press its reset (EN) button") from exc
        finally:
            self.restart_app = False  # it is rebooting already: no second Ctrl-D on close
            self.close()
        return said.endswith(b"soft reboot")

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


def check_port_free(port: str) -> None:
    """Open and close the port once to tell a busy, missing or forbidden port from a silent
    one (mpremote reports all of them as "failed to access")."""
    if "://" in port:
        return  # URLs (socket://, rfc2217://) have no lock to take
    import serial

    try:
        link = serial.serial_for_url(port, do_not_open=True, exclusive=True)
        link.open()
        link.close()
    except (serial.SerialException, OSError) as exc:
        text = str(exc)
        if "lock" in text.lower() or "busy" in text.lower():
            raise RetrorunError(f"{port} is busy: another program holds it (a serial monitor, "
                                "mpremote, an IDE, esptool); close it and retry") from exc
        if "No such file" in text or "FileNotFoundError" in text:
            raise RetrorunError(f"{port} does not exist; plug the board in (retrorun devices "
                                "lists the ports)") from exc
        if "Permission denied" in text:
            raise RetrorunError(f"no permission to open {port}; on Linux add yourself to the "
                                "dialout group (then log in again)") from exc
        raise RetrorunError(f"cannot open {port} ({text}); check the port") from exc


def _printed_bytes(printed: str) -> bytes:
    """The bytes mpremote printed (as Python bytes literals) when the raw REPL failed."""
    out = b""
    for line in printed.splitlines():
        line = line.strip()
        if line.startswith(("b'", 'b"')):
            try:
                value = ast.literal_eval(line)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, bytes):
                out += value
    return out


def diagnose(port: str, seen: bytes, exc: BaseException) -> str:
    """The likely cause of a port that does not give a raw REPL, and what to do."""
    if isinstance(exc, ValueError):
        return f"{exc}; give a device path or a socket:// or rfc2217:// URL"
    if not isinstance(exc, (OSError,)) and "failed to access" in str(exc):
        return f"{port} cannot be opened; check the port (retrorun devices lists candidates)"
    if b"waiting for download" in seen:
        return ("the board is in download mode (its ROM printed 'waiting for download'); press "
                "its reset (EN) button without BOOT, or unplug and replug it, and retry")
    text = seen.replace(b"\r", b"").replace(b"\n", b"").strip()
    if not text:
        return ("nothing answered within 3 s: the board may be in download mode (press its reset "
                "button), held in reset by another program, or not running MicroPython (retrorun "
                "flash)")
    printable = sum(32 <= c < 127 for c in text) / len(text)
    if printable < 0.8:
        return ("the port sends bytes that are not text: a wrong baud rate (MicroPython's REPL "
                "is at 115200) or another device on this port")
    return (f"something answers but it is not MicroPython's REPL ({text[:40]!r}); is MicroPython "
            "flashed on it (retrorun flash)?")


def parse_answer(function: str, out: bytes) -> dict:
    """The JSON line a retrofw.api function printed; a device-side refusal raises."""
    text = out.decode("utf-8", "replace").strip()
    try:
        answer = json.loads(text.splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as exc:
        raise RetrorunError(f"the device answered {function}() with something that is not "
                            f"JSON ({text[:60]!r}); is the retrorun firmware deployed?") from exc
    return check_answer(function, answer)


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
