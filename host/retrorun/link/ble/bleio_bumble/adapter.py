"""`Adapter`: the central-role radio of `_bleio` on a bumble `Device` (scan, connect).

The Device lives on the bumble loop; each call runs a coroutine there and waits. A scan feeds
`ScanResults` from the host's raw HCI advertising reports (so advertisements and scan
responses come as separate entries, as CircuitPython gives them); it ends at its timeout, on
`stop_scan`, or when `connect` starts. `connect` exchanges the ATT MTU (`mtu`, 247 by default)
right after the link is up, so `PacketBuffer.outgoing_packet_length` is the negotiated one.
"""

from __future__ import annotations

import asyncio

from bumble import core

from .basics import Address, BluetoothError, address_from_bumble, address_to_bumble
from .gatt import Connection
from .scan import ScanResults

DEFAULT_MTU = 247  # the largest ATT MTU that fits one LE data-length-extended PDU


class Adapter:
    """The radio. `_bleio.adapter` after `install()`; not constructed by users."""

    def __init__(self, loop, device, *, mtu: int = DEFAULT_MTU) -> None:
        self._loop = loop
        self._device = device
        self._mtu = mtu
        self._enabled = True
        self._connections: list[Connection] = []
        self._scan: ScanResults | None = None
        self._scan_timer: asyncio.TimerHandle | None = None

    # --- state -----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """True while the adapter is usable (it is powered on by install())."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = bool(value)

    @property
    def address(self) -> Address:
        """The address this adapter scans and connects with (bumble's random address)."""
        return address_from_bumble(self._device.random_address)

    @property
    def name(self) -> str:
        return self._device.name

    @name.setter
    def name(self, value: str) -> None:
        self._device.name = str(value)

    @property
    def advertising(self) -> bool:
        """Always False: the peripheral role is not supported."""
        return False

    def start_advertising(self, data, **kwargs) -> None:
        raise NotImplementedError("the bumble _bleio is central-only: advertising (peripheral "
                                  "role) is not supported")

    def stop_advertising(self) -> None:
        pass

    def erase_bonding(self) -> None:
        raise NotImplementedError("bonding information is kept by bumble's key store")

    def _check_enabled(self) -> None:
        if not self._enabled:
            raise BluetoothError("Adapter not enabled")

    # --- scanning --------------------------------------------------------------------------
    def start_scan(self, prefixes=b"", *, buffer_size: int = 512, extended: bool = False,
                   timeout: float | None = None, interval: float = 0.1, window: float = 0.1,
                   minimum_rssi: int = -80, active: bool = True) -> ScanResults:
        """Start scanning; the iterator yields `ScanEntry` until `timeout` (seconds; None: until
        `stop_scan`). `interval`/`window` in seconds (0.0025-40.959375, window <= interval);
        only entries with rssi >= minimum_rssi (dBm) and matching any of `prefixes`.
        `extended` is accepted; bumble picks extended scanning when the controller has it."""
        self._check_enabled()
        if not 0.0025 <= interval <= 40.959375:
            raise ValueError("interval must be in range 0.0025-40.959375")
        if not 0.0025 <= window <= interval:
            raise ValueError("window must be <= interval")
        if self._scan is not None and not self._scan.stopped:
            raise BluetoothError("Scan already in progress. Stop with stop_scan.")
        results = ScanResults(prefixes=prefixes, buffer_size=buffer_size,
                              minimum_rssi=minimum_rssi)
        self._scan = results

        async def start():
            host = self._device.host
            host.on("advertising_report", results._on_report)
            try:
                await self._device.start_scanning(
                    active=active, scan_interval=interval * 1000, scan_window=window * 1000,
                    filter_duplicates=False)
            except BaseException:
                host.remove_listener("advertising_report", results._on_report)
                results._finish()
                raise
            if timeout is not None:
                self._scan_timer = asyncio.get_running_loop().call_later(
                    timeout, lambda: asyncio.ensure_future(self._stop_scan(results)))

        try:
            self._loop.run(start(), 10.0)
        except (core.BaseBumbleError, OSError, TimeoutError) as error:
            raise BluetoothError(f"could not start scanning: {error!r}") from error
        return results

    async def _stop_scan(self, results: ScanResults) -> None:
        if results.stopped:
            return
        results._finish()
        if self._scan_timer is not None:
            self._scan_timer.cancel()
            self._scan_timer = None
        self._device.host.remove_listener("advertising_report", results._on_report)
        if self._device.is_scanning:
            await self._device.stop_scanning()

    def stop_scan(self) -> None:
        """Stop the scan; the iterator yields what it buffered, then stops."""
        if self._scan is not None:
            self._loop.run(self._stop_scan(self._scan), 10.0)

    # --- connections -----------------------------------------------------------------------
    def connect(self, address: Address, *, timeout: float) -> Connection:
        """Connect to the peripheral at `address` (stops a running scan), exchange the MTU."""
        self._check_enabled()
        if not isinstance(address, Address):
            raise TypeError("address must be a _bleio.Address")
        self.stop_scan()

        async def connect():
            link = await self._device.connect(address_to_bumble(address), timeout=timeout)
            connection = Connection._wrap(self._loop, link)
            try:
                await connection._peer.request_mtu(self._mtu)
            except (TimeoutError, core.BaseBumbleError, core.ProtocolError):
                pass  # the peer refused: stay at the default 23
            return connection

        try:
            connection = self._loop.run(connect(), timeout + 10.0)
        except (core.BaseBumbleError, OSError, TimeoutError, asyncio.CancelledError) as error:
            raise BluetoothError(f"Failed to connect: {error!r}") from error
        self._connections = [c for c in self._connections if c.connected]
        self._connections.append(connection)
        return connection

    @property
    def connected(self) -> bool:
        """True if any connection is up."""
        return any(c.connected for c in self._connections)

    @property
    def connections(self) -> tuple[Connection, ...]:
        """The connections that are up."""
        return tuple(c for c in self._connections if c.connected)

    def _close(self) -> None:
        """Stop the scan and close every connection, as far as the controller answers (for
        uninstall)."""
        self._enabled = False
        try:
            self.stop_scan()
        except (core.BaseBumbleError, OSError, TimeoutError):
            pass  # the controller is gone: nothing left to stop
        for connection in self.connections:
            try:
                connection.disconnect()
            except BluetoothError:
                pass
