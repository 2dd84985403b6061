"""The host side of the virtual board's guest protocol: what the device files ask the host.

`HostCalls` (a part of `repl.AppDevice`) answers each host call of the guest (`_dispatch`):
jobs for the job loop, the virtual clock, waits (virtual time runs on to the next hardware
event), `input()`, console input the running code polls for, deep sleep, the SPI flash, and every `machine` operation, which goes to the
hardware models (`hw.Hardware.handle`). The protocol is in docs/vboard-app.md.
"""

from __future__ import annotations

import time

from retrorun.devtools.vboard import hw as hwmod
from retrorun.devtools.vboard.console import Reboot


class HostCalls:
    """Answers to the guest's host calls (see repl.AppDevice for the state used)."""

    def _cpu_time(self) -> None:
        vm = self._vm
        us = vm.cpu_us() if vm is not None else 0
        if us:
            self.hw.advance(us)

    def _check_kill(self) -> None:
        kill = self._kill
        if kill is not None and kill.kind != "interrupt":
            with self._lock:
                self._kill = None
            raise kill
        req = self.hw.reset_request
        if req is not None:
            kind, cause = req
            if kind == "soft":
                self._out(b"MPY: soft reboot\r\n")
                raise Reboot("soft_raw" if self.mode == "raw" else "soft")
            raise Reboot("hard", cause)

    def _take_kbd(self) -> bool:
        """Ctrl-C arrived from the host: consume it (the device raises KeyboardInterrupt)."""
        if not self._kbd:
            return False
        with self._lock:
            self._kbd = False
            self._cancel_kbd_timer()  # type: ignore[attr-defined]  # on the device class
        return True

    def _dispatch(self, msg: str) -> str:
        op = msg[:1]
        if op == "n":
            return self._next_job()
        if op == "d":
            self._finish(msg[1:])
            return ""
        if op == "q":
            with self.hw.lock:
                keys = " ".join(self.hw.irq_pending)
                self.hw.irq_pending.clear()
            return keys
        self._cpu_time()
        self._check_kill()
        if self._take_kbd():
            return "\x01K"
        if op == "w":
            answer = self._wait(int(msg[1:]))
        elif op == "r":
            answer = self._read_line()
        elif op == "c":  # the guest polls sys.stdin (device/select.py)
            answer = self._console_in()
        elif op == "t":
            answer = str(self.ticks_us & 0x3FFFFFFF)
        elif op == "m":
            answer = str((self.ticks_us // 1000) & 0x3FFFFFFF)
        elif op == "a":  # ms since boot, unwrapped: asyncio's clock (device/_vbclock.py)
            answer = str(self.ticks_us // 1000)
        elif op == "T":
            answer = str(int(self.hw.rtc_base_s + self.hw.now_us / 1e6))
        elif op == "N":
            answer = str(int(self.hw.rtc_base_s * 1e9) + self.hw.now_us * 1000)
        elif msg.startswith("MD"):
            answer = self._deepsleep(int(msg[2:] or 0))
        elif op == "F":
            answer = self._flash_cmd(msg[1:2], msg[2:].split())
        elif op == "S":
            answer = self._space_cmd(msg[1:2], msg[2:])
        else:
            stall = self.hw.stall
            if stall is not None and stall(msg):
                return self._hung()
            answer = self.hw.handle(msg)
            self._check_kill()
        if self.hw.irq_pending:
            return "\x01I" + answer
        return answer

    def _flash_cmd(self, op: str, args: list[str]) -> str:
        """The SPI flash, as `esp32.Partition` sees it: "l" lists the partition table
        ("label type subtype offset size" entries joined by ";"), "r<offset> <length>" reads
        (hex), "e<offset> <length>" erases 4 KB sectors, "w<offset> <hex>" programs (NOR: old AND
        new). Ranges outside the flash answer EINVAL."""
        from retrorun.provision import partition_table

        flash = self.flash
        if flash is None:
            return "" if op == "l" else "E19"  # ENODEV: this board has no flash model
        try:
            if op == "l":
                table = partition_table.read_table(
                    flash.read(0, partition_table.TABLE_OFFSET + partition_table.TABLE_SIZE))
                return ";".join(f"{p.label} {p.type} {p.subtype} {p.offset} {p.size}"
                                for p in table or ())
            offset = int(args[0])
            if op == "r":
                return flash.read(offset, int(args[1])).hex()
            if op == "e":
                flash.erase(offset, int(args[1]))
                return ""
            if op == "w":
                flash.program(offset, bytes.fromhex(args[1]))
                return ""
        except (ValueError, IndexError):
            pass
        return "E22"

    def _space_cmd(self, op: str, args: str) -> str:
        """The filesystem's size (faults.FlashSpace): "v" statvfs ("blocks free_blocks"),
        "w<n> <grow> <path>" may a write of n bytes (the file growing by `grow`) go ahead,
        "x" nothing (after a write cut short: the reset it asked for happens here)."""
        space = self.hw.flash_space
        if op == "v":
            if space is None:
                from retrorun.devtools.vboard.faults import DEFAULT_BLOCKS

                return "{} {}".format(*DEFAULT_BLOCKS)
            return space.statvfs()
        if op == "w":
            n, grow, path = args.split(" ", 2)
            return n if space is None else space.may_write(path, int(n), int(grow))
        return ""

    def _hung(self) -> str:
        """A host call that never returns (faults.hang): virtual time runs on through the
        hardware's events until a reset (the watchdog) or Ctrl-C ends it."""
        hw = self.hw
        while True:
            self._check_kill()
            if self._take_kbd():
                return "\x01K"
            nxt = hw.next_event_us()
            if nxt is None:
                self._wake_event.clear()
                self._wake_event.wait(0.02)
                hw.advance(20_000)
            else:
                hw.advance_to(nxt)

    def _deepsleep(self, ms: int) -> str:
        """machine.deepsleep: the board sleeps (virtual time runs on), then boots again. With a
        time (ms > 0) the RTC timer wakes it. Without one, as on the esp32 port, only a wake
        source configured before (esp32.wake_on_ext0/ext1: its pin at the wake level) wakes it;
        with none configured it sleeps until reset or power-off."""
        hw = self.hw
        if ms > 0:
            hw.advance(ms * 1000)
            hw.wake_reason = 4  # TIMER_WAKE
        else:
            hw.wake_reason = 0
            hw.log.append((hw.now_us, "deep sleep" + (" (no wake source: until reset)"
                                                      if hw.wake_pin is None else "")))
            while hw.wake_reason == 0:
                if self._kill is not None and self._kill.kind != "interrupt":
                    self._check_kill()
                nxt = hw.next_event_us()
                if nxt is None:
                    self._wake_event.clear()
                    self._wake_event.wait(0.05)
                    continue
                hw.advance_to(nxt)
                if hw.wake_pin is not None and \
                        hw.pin(hw.wake_pin[0]).level() == hw.wake_pin[1]:
                    hw.wake_reason = 2  # EXT0_WAKE
        hw.log.append((hw.now_us, f"deep sleep ends (wake reason {hw.wake_reason})"))
        raise Reboot("hard", hwmod.DEEPSLEEP_RESET)

    def _console_in(self) -> str:
        """The guest polls sys.stdin: the serial input queued while its code runs moves to the
        VM's stdin, as a board's UART buffer is read by the code that polls the console. "-1"
        when this runtime has no stdin to feed (the guest then sees no input)."""
        vm = self._vm
        if vm is None:
            return "-1"
        with self._lock:
            pending = self._pending
            taken = vm.console_in(bytes(pending))
            if taken > 0:
                del pending[:taken]
        return str(taken)

    def _read_line(self) -> str:
        """input(): a line typed on the serial port while the code runs (echoed on Enter)."""
        while True:
            with self._lock:
                pending = self._pending
                end = next((i for i, b in enumerate(pending) if b in (0x0D, 0x0A)), -1)
                if end >= 0:
                    raw = bytes(pending[:end])
                    skip = 2 if pending[end:end + 2] == b"\r\n" else 1
                    del pending[:end + skip]
                    line = bytearray()
                    for b in raw:
                        if b in (0x08, 0x7F):
                            if line:
                                line.pop()
                        elif b >= 0x20 or b == 0x09:
                            line.append(b)
                    self._out(bytes(line) + b"\r\n")
                    return line.decode("utf-8", "replace")
            if self._kbd:
                with self._lock:
                    self._kbd = False
                    self._cancel_kbd_timer()
                return "\x01K"
            if self._kill is not None and self._kill.kind != "interrupt":
                self._check_kill()
            self._wake_event.clear()
            self._wake_event.wait(0.05)

    def _wait(self, us: int) -> str:
        """Let virtual time pass: to now+us, or until an IRQ is pending (us < 0: until the next
        hardware event, or ~20 ms of real time when nothing is scheduled)."""
        hw = self.hw
        target = hw.now_us + us if us >= 0 else None
        while True:
            if self._kbd or self._kill is not None or hw.reset_request is not None:
                return str(max(0, target - hw.now_us) if target is not None else 0)
            if hw.irq_pending:
                return str(max(0, target - hw.now_us) if target is not None else 0)
            if target is not None and hw.now_us >= target:
                return "0"
            nxt = hw.next_event_us()
            if target is None:
                if nxt is None:
                    self._wake_event.clear()
                    self._wake_event.wait(0.02)
                    hw.advance(20_000)
                    return "0"
                step = nxt
            else:
                step = target if nxt is None else min(target, nxt)
            if self.speed:
                self._wake_event.clear()
                self._wake_event.wait(max(0.0, (step - hw.now_us) / 1e6 / self.speed))
            hw.advance_to(step)
            if target is None:
                return "0"

    def _next_job(self) -> str:
        with self._lock:
            self.vm_ready.set()
            while not self._jobs:
                if self._kill is not None and self._kill.kind != "interrupt":
                    kill, self._kill = self._kill, None
                    raise kill
                # idle at the REPL: virtual time follows the wall clock, so a started watchdog
                # still resets the board, as on a real ESP32
                nxt = self.hw.next_event_us()
                before = time.monotonic()
                self._cond.wait(0.05 if nxt is None else
                                min(0.05, max(0.0, (nxt - self.hw.now_us) / 1e6)))
                self.hw.advance(int((time.monotonic() - before) * 1e6))
                if self.hw.reset_request is not None and not self._jobs:
                    self._check_kill()
                if self.hw.irq_pending and not self._jobs:
                    # timers and pin interrupts keep running at the prompt, as on a board
                    self._jobs.append(("i", lambda err: self._out_cooked(err.encode())))
            if self._kill is not None and self._kill.kind != "interrupt":
                kill, self._kill = self._kill, None
                raise kill
            text, self._current = self._jobs.popleft()
            self.busy = True
            vm = self._vm
            if vm is not None:
                vm.mark()
            return text
