"""Scanning: `ScanEntry` (one advertising or scan-response report, as CircuitPython returns
them: separately) and `ScanResults` (the iterator `Adapter.start_scan` returns).

Reports are added on the bumble loop's thread and taken on the caller's; the buffer holds at
most `buffer_size` advertising bytes and drops new reports when full, as CircuitPython's ring
buffer does (counted in `ScanResults.dropped`).
"""

from __future__ import annotations

import collections
import threading

from bumble import device as bumble_device

from .basics import Address, address_from_bumble


def _fields(data: bytes) -> list[bytes]:
    """The AD structures of advertising data, each as type byte + payload (no length byte)."""
    fields = []
    i = 0
    while i < len(data):
        length = data[i]
        if length == 0:
            break
        fields.append(bytes(data[i + 1:i + 1 + length]))
        i += 1 + length
    return fields


def _prefixes(packed: bytes) -> list[bytes]:
    """Length-prefixed prefixes (b"\\x01\\x09\\x02\\x03\\x02", ...) -> [b"\\x09", b"\\x03\\x02"]."""
    prefixes = []
    i = 0
    while i < len(packed):
        length = packed[i]
        prefixes.append(bytes(packed[i + 1:i + 1 + length]))
        i += 1 + length
    return prefixes


class ScanEntry:
    """One received advertisement or scan response."""

    def __init__(self, address: Address, advertisement_bytes: bytes, rssi: int,
                 connectable: bool, scan_response: bool) -> None:
        self._address = address
        self._data = bytes(advertisement_bytes)
        self._rssi = rssi
        self._connectable = connectable
        self._scan_response = scan_response

    @classmethod
    def _from_report(cls, report) -> ScanEntry | None:
        """From a bumble HCI (legacy or extended) advertising report; None if not one."""
        adv = bumble_device.Advertisement.from_advertising_report(report)
        if adv is None:
            return None
        return cls(address_from_bumble(adv.address), adv.data_bytes, adv.rssi,
                   adv.is_connectable, adv.is_scan_response)

    address = property(lambda self: self._address, doc="The advertiser's `Address`.")
    advertisement_bytes = property(lambda self: self._data,
                                   doc="The raw advertising data (AD structures).")
    rssi = property(lambda self: self._rssi, doc="Signal strength in dBm.")
    connectable = property(lambda self: self._connectable,
                           doc="True if the advertiser accepts connections.")
    scan_response = property(lambda self: self._scan_response,
                             doc="True if this entry is a scan response, not an advertisement.")

    def matches(self, prefixes: bytes, *, match_all: bool = True) -> bool:
        """True if the AD structures start with all (or, match_all=False, any) of the
        length-prefixed `prefixes`; always True for empty prefixes."""
        wanted = _prefixes(bytes(prefixes))
        if not wanted:
            return True
        fields = _fields(self._data)
        hits = (any(field.startswith(prefix) for field in fields) for prefix in wanted)
        return all(hits) if match_all else any(hits)

    def __repr__(self) -> str:
        kind = "scan response" if self._scan_response else "advertisement"
        return f"<ScanEntry {self._address} {kind} rssi={self._rssi} data={self._data.hex()}>"


class ScanResults:
    """Iterator of `ScanEntry`: blocks for the next one; stops when the scan has ended (timeout
    or `Adapter.stop_scan`) and the buffered entries are consumed."""

    def __init__(self, *, prefixes: bytes, buffer_size: int, minimum_rssi: int) -> None:
        self._prefixes = bytes(prefixes)
        self._budget = buffer_size
        self._minimum_rssi = minimum_rssi
        self._entries: collections.deque[ScanEntry] = collections.deque()
        self._bytes = 0
        self._done = False
        self._cond = threading.Condition()
        self.dropped = 0

    # called on the bumble loop for every HCI advertising report
    def _on_report(self, report) -> None:
        entry = ScanEntry._from_report(report)
        if entry is None:
            return
        # bumble reports 127 (RSSI_NOT_AVAILABLE) when there is no figure: keep those
        if entry.rssi < self._minimum_rssi:
            return
        if not entry.matches(self._prefixes, match_all=False):
            return
        with self._cond:
            size = len(entry.advertisement_bytes)
            if self._bytes + size > self._budget or self._done:
                self.dropped += 1
                return
            self._entries.append(entry)
            self._bytes += size
            self._cond.notify_all()

    def _finish(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        """True once the scan has ended (entries may still be buffered)."""
        with self._cond:
            return self._done

    @property
    def done(self) -> bool:
        """True once the scan has ended and every entry was taken."""
        with self._cond:
            return self._done and not self._entries

    def __iter__(self) -> ScanResults:
        return self

    def __next__(self) -> ScanEntry:
        with self._cond:
            self._cond.wait_for(lambda: self._entries or self._done)
            if not self._entries:
                raise StopIteration
            entry = self._entries.popleft()
            self._bytes -= len(entry.advertisement_bytes)
            return entry
