"""The DevKitC auto-reset circuit: the USB bridge's DTR/RTS lines drive the ESP32's EN and IO0.

On the ESP32-DevKitC schematic two NPN transistors cross-couple the lines: Q1 (base from DTR,
emitter on RTS) pulls EN low, Q2 (base from RTS, emitter on DTR) pulls IO0 low. With pyserial's
logical values (True = asserted = line driven low):

    DTR   RTS  |  EN  IO0
    False False|  1   1
    True  True |  1   1
    False True |  0   1     (chip held in reset)
    True  False|  1   0     (boot strap low: download mode)

So EN = not (RTS and not DTR) and IO0 = not (DTR and not RTS).

EN also has an RC delay (10 kOhm / 1 uF on the board), so the chip leaves reset a little after
the lines say so, and samples IO0 then. The host's lines change one at a time (esptool's
classic reset passes through DTR=RTS=True, which releases EN a moment before IO0 goes low), and
over RFC 2217 each change is a network round trip. The model therefore keeps a boot pending
after EN rises: if IO0 goes low before the chip is out of reset, it boots the ROM loader
(download mode); if the window passes, or the host sends data first, it boots the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable

RELEASE_WINDOW_S = 0.5  # EN rise to "out of reset"; long enough for RFC 2217 round trips


class AutoReset:
    """DTR/RTS in, reset events out: `on_boot("rom" | "app")`, `on_hold()` when EN goes low."""

    def __init__(self, on_boot: Callable[[str], None], on_hold: Callable[[], None] | None = None,
                 *, window_s: float = RELEASE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._on_boot = on_boot
        self._on_hold = on_hold or (lambda: None)
        self.window_s = window_s
        self._clock = clock
        self.dtr = False
        self.rts = False
        self._pending_since: float | None = None
        self.boots: list[str] = []  # history of boots, for tests and the log

    @property
    def en(self) -> bool:
        """EN pin level (True = high = chip running)."""
        return not (self.rts and not self.dtr)

    @property
    def io0(self) -> bool:
        """IO0 strap level (False = low = download boot)."""
        return not (self.dtr and not self.rts)

    @property
    def in_reset(self) -> bool:
        """EN low, or EN released but the chip not yet out of reset."""
        return not self.en or self._pending_since is not None

    def deadline(self) -> float | None:
        """When a pending boot falls due (clock time), or None."""
        if self._pending_since is None:
            return None
        return self._pending_since + self.window_s

    def set_lines(self, dtr: bool | None = None, rts: bool | None = None) -> None:
        """The host changed DTR and/or RTS (one RFC 2217 SET-CONTROL changes one of them)."""
        was_en = self.en
        if dtr is not None:
            self.dtr = bool(dtr)
        if rts is not None:
            self.rts = bool(rts)
        if was_en and not self.en:
            self._pending_since = None
            self._on_hold()
        elif not was_en and self.en:
            self._pending_since = self._clock()
        if self._pending_since is not None and not self.io0:
            self._boot("rom")

    def release(self) -> None:
        """The host went away: a closed port leaves both lines deasserted."""
        self.set_lines(dtr=False, rts=False)

    def poll(self) -> None:
        """Call regularly: boots the app once the release window has passed with IO0 high."""
        deadline = self.deadline()
        if deadline is not None and self._clock() >= deadline:
            self._boot("rom" if not self.io0 else "app")

    def host_data(self) -> None:
        """The host sent data while a boot was pending: the chip is out of reset by now."""
        if self._pending_since is not None:
            self._boot("rom" if not self.io0 else "app")

    def _boot(self, kind: str) -> None:
        self._pending_since = None
        self.boots.append(kind)
        self._on_boot(kind)
