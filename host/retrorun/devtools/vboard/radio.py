"""The virtual board's Bluetooth radio: what the guest's `bluetooth` module (device/ble/bluetooth.py)
drives, as MicroPython's esp32 port (NimBLE) does, on a real BLE host stack.

`BoardRadio(mac)` owns a bumble `Device` (host + controller) on a bumble `LocalLink`: its GATT
server is built from `gatts_register_services` (radio_gatt.py, NimBLE's handles), advertising
is real legacy advertising (data checked against the 31 bytes of the Core Specification, Vol 6
Part B 2.3.1), and centrals on the same link (`central()`, the laptop's `_bleio` on bumble, or a
CLI behind `serve_hci`) discover, subscribe (CCCDs), exchange the MTU, write and get
notifications through bumble's ATT, L2CAP and link layer. Connections, disconnections, writes
and MTU exchanges come back to the guest as `BLE.irq` events with the port's data tuples.

Facts of the port this follows (micropython/micropython extmod/modbluetooth.c,
extmod/nimble/modbluetooth_nimble.c, ports/esp32/mpconfigport.h):
- every call but `active()`/`irq()`/`gatts_read` raises OSError(ENODEV) while the radio is off
  (ERRNO_BLUETOOTH_NOT_ACTIVE); `gatts_read` then answers b"";
- `config('mac')` is (0, the Bluetooth MAC): the ESP32 has a public address, the base MAC + 2
  in its last byte (ESP-IDF's esp_read_mac for ESP_MAC_BT); the GAP name starts as "MPY ESP32"
  (ports/esp32/boards/sdkconfig.ble), the preferred MTU as 256 (ESP-IDF's NimBLE default);
- `gatts_notify` sends whether or not the central subscribed, the value cut to ATT_MTU - 3;
  `gatts_write(h, v, True)` notifies (or indicates) every central whose CCCD asks for it;
  `gap_disconnect` answers False for a handle that is not connected (ENOTCONN), notifying an
  unconnected handle raises OSError(ENOTCONN);
- a connection stops advertising (NimBLE advertises until a central connects);
- registering services while advertising or connected fails with EBUSY (ble_gatts_reset);
- on the esp32 port events are delivered synchronously on the NimBLE task
  (MICROPY_PY_BLUETOOTH_USE_SYNC_EVENTS, with the GIL): a written value is the one
  `gatts_read` sees in the handler, and the next write waits for the handler. Here the events
  are queued and the guest runs the handler at its next host call (as the board's other soft
  IRQs); a remote write lands in the value when its event is handed to the guest, so the
  handler still reads exactly the value that was written;
- a soft or hard reset turns the radio off (mp_bluetooth_deinit): links dropped, services and
  advertising gone.

While the radio is on, the board's virtual clock runs at real time (bumble's timers and the
other side's timeouts are real), and a wait returns early when an event arrives.
"""

from __future__ import annotations

import asyncio
import errno
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from bumble import att, hci, ll
from bumble.controller import Controller
from bumble.device import Device, DeviceConfiguration
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from retrorun.devtools.vboard.radio_gatt import FLAG_INDICATE, FLAG_NOTIFY, Database, parse_services
from retrorun.link.ble import bumble_loop

ADV_MAX = 31  # legacy advertising and scan response data (Core Spec Vol 6 Part B 2.3.1.1)
PREFERRED_MTU = 256  # CONFIG_BT_NIMBLE_ATT_PREFERRED_MTU's default
MAX_CONNECTIONS = 4  # CONFIG_BT_NIMBLE_MAX_CONNECTIONS (ports/esp32/boards/sdkconfig.ble)
IRQ_KEY = "b"  # the guest's soft-IRQ key for Bluetooth events (_vb.IRQ)
# MicroPython's event codes (docs/library/bluetooth.rst)
IRQ_CENTRAL_CONNECT = 1
IRQ_CENTRAL_DISCONNECT = 2
IRQ_GATTS_WRITE = 3
IRQ_GATTS_INDICATE_DONE = 20
IRQ_MTU_EXCHANGED = 21


class _ServedController(Controller):
    """A controller on the radio's link for a host stack in another process (serve_hci). Its
    HCI_Reset ends the links it holds, as a real controller's reset does (Core Spec Vol 4
    Part E 7.3.2; the peer sees the link drop): a CLI that exited without disconnecting
    leaves no connection behind for the next one."""

    def on_hci_reset_command(self, command):
        for connection in list(self.le_connections.values()):
            connection.send_ll_control_pdu(ll.TerminateInd(
                hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR))
            del self.le_connections[connection.peer_address]
        self.pending_le_connection = None
        return super().on_hci_reset_command(command)


def bluetooth_mac(base_mac: bytes) -> bytes:
    """The ESP32's Bluetooth MAC: the base MAC (eFuse) with 2 added to its last byte."""
    return base_mac[:5] + bytes(((base_mac[5] + 2) & 0xFF,))


def _addr(address: hci.Address) -> tuple[int, bytes]:
    """(addr_type, addr) as the port hands them: 0 public / 1 random, most significant first."""
    return int(address.address_type) & 1, bytes(reversed(bytes(address)))


class BoardRadio:
    """The radio of one virtual board (see the module docstring).

    `on_event()` is called (from the bumble loop's thread) whenever an event is queued for the
    guest; the hardware schedules the guest's soft IRQ from it.
    """

    def __init__(self, base_mac: bytes, on_event: Callable[[], None] | None = None) -> None:
        self.loop = bumble_loop.shared()
        self.mac = bluetooth_mac(base_mac)
        # on the air as a random address: bumble's LocalLink sends LE data from a controller's
        # random address only (link.py send_acl_data); the guest still sees (0, mac)
        self.address = hci.Address(bytes(reversed(self.mac)),
                                   hci.Address.RANDOM_DEVICE_ADDRESS)
        self.link = LocalLink()
        self.on_event = on_event
        self.lock = threading.Lock()
        self.active = False
        self.handler = False
        self.events: deque[tuple[str, tuple[int, bytes] | None]] = deque()
        self.connections: dict[int, Any] = {}  # handle -> bumble Connection
        self.advertising = False
        self.adv_data = b""
        self.resp_data = b""
        self.preferred_mtu = PREFERRED_MTU
        self.db = Database(self._remote_write)
        self.notifications = 0  # notifications and indications sent
        # fault: `cut_when(handle, value)` is asked before each notification; True drops every
        # link instead of sending it (a link lost in the middle of a transfer)
        self.cut_when: Callable[[int, bytes], bool] | None = None
        self.log: list[str] = []  # what the board did on the air (tests read it)
        self._controllers: list[Controller] = []
        self._transports: list = []
        self._tasks: set = set()
        self.run(self._start())

    # ---- the bumble side --------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        """Run a coroutine on the bumble loop (from any other thread) and return its result."""
        return self.loop.run(coro, timeout)

    async def _start(self) -> None:
        self.controller = Controller("vboard-radio", link=self.link)
        config = DeviceConfiguration(name="MPY ESP32", address=self.address,
                                     gap_service_enabled=False, gatt_service_enabled=False)
        self.device = Device(config=config, host=Host(self.controller,
                                                      AsyncPipeSink(self.controller)))
        self.device.on("connection", self._on_connection)
        await self.device.power_on()

    def _on_connection(self, connection) -> None:
        if connection.role != hci.Role.PERIPHERAL or not self.active:
            self._spawn(connection.disconnect())
            return
        handle = connection.handle
        self.advertising = False  # the controller stopped advertising
        with self.lock:
            self.connections[handle] = connection
        addr_type, addr = _addr(connection.peer_address)
        self.log.append(f"connect {handle}")
        self._queue(f"{IRQ_CENTRAL_CONNECT} {handle} {addr_type} x{addr.hex()}")

        def on_mtu() -> None:
            self._queue(f"{IRQ_MTU_EXCHANGED} {handle} {connection.att_mtu}")

        def on_disconnection(_reason) -> None:
            with self.lock:
                self.connections.pop(handle, None)
            self.log.append(f"disconnect {handle}")
            self._queue(f"{IRQ_CENTRAL_DISCONNECT} {handle} {addr_type} x{addr.hex()}")

        connection.on("connection_att_mtu_update", on_mtu)
        connection.on("disconnection", on_disconnection)

    def _remote_write(self, connection, handle: int, value: bytes) -> None:
        """A central wrote a value (bumble loop): it lands when the guest takes the event."""
        if not self.active:
            return
        with self.lock:
            if not self.handler:
                target = self.db.values.get(handle)
                if target is not None:
                    with self.db.lock:
                        target.remote_write(value)
                return
        self._queue(f"{IRQ_GATTS_WRITE} {connection.handle} {handle}", (handle, value))

    def _queue(self, text: str, write: tuple[int, bytes] | None = None) -> None:
        with self.lock:
            if not self.active:
                return
            if not self.handler and write is None:
                return  # the port drops events while no handler is set
            self.events.append((text, write))
        if self.on_event is not None:
            self.on_event()

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send_now(self, connection, handle: int, value: bytes, indicate: bool) -> None:
        """On the loop: one notification (or indication) PDU, in call order."""
        if connection.handle not in self.connections:
            return
        value = value[:connection.att_mtu - 3]
        if self.cut_when is not None and self.cut_when(handle, value):
            self.cut_when = None
            self.log.append("cut: links dropped (fault)")
            for c in list(self.connections.values()):
                self._spawn(c.disconnect())
            return
        if indicate:
            attribute = self.db.characteristics.get(handle)
            if attribute is not None:
                self._spawn(self.device.gatt_server.indicate_subscriber(
                    connection, attribute, value, force=True))
        else:
            pdu = att.ATT_Handle_Value_Notification(attribute_handle=handle,
                                                    attribute_value=value)
            self.device.gatt_server.send_gatt_pdu(connection, bytes(pdu))
        self.notifications += 1

    # ---- the guest's calls (the VM thread) ----------------------------------------------------
    def command(self, msg: str) -> str:
        """Answer one `B...` host call of device/ble/bluetooth.py."""
        op, args = msg[1:2], msg[2:]
        if op == "a":
            if args:
                self._set_active(args == "1")
            return "1" if self.active else "0"
        if op == "h":
            with self.lock:
                self.handler = args == "1"
            return ""
        if op == "e":
            return self._next_event()
        if op == "r":
            if not self.active:
                return ""
            with self.db.lock:
                value = self.db.values.get(int(args))
                return value.read().hex() if value is not None else ""
        if not self.active:
            return f"E{errno.ENODEV}"
        try:
            return self._active_command(op, args)
        except OSError as exc:
            return f"E{exc.errno}"
        except (ValueError, IndexError, KeyError, TypeError) as exc:  # a malformed call
            self.log.append(f"bad command {msg!r}: {exc}")
            return f"E{errno.EINVAL}"

    def _active_command(self, op: str, args: str) -> str:
        if op == "c":
            if args == "mac":
                return f"0 {self.mac.hex()}"
            if args == "gap_name":
                return self.db.gap_name.hex()
            if args == "mtu":
                return str(self.preferred_mtu)
            return f"E{errno.EINVAL}"
        if op == "C":
            key, value = args.split(" ", 1)
            if key == "gap_name":
                name = _unhex(value)
                if len(name) > 31:  # CONFIG_BT_NIMBLE_GAP_DEVICE_NAME_MAX_LEN
                    return f"E{errno.EINVAL}"
                self.db.gap_name = name
            elif key == "mtu":
                mtu = int(value)
                if not 23 <= mtu <= 517:  # ble_att_set_preferred_mtu's range
                    return f"E{errno.EINVAL}"
                self.preferred_mtu = mtu
                self.device.gatt_server.max_mtu = mtu
            return ""
        if op == "g":
            if self.advertising or self.connections:
                return f"E{errno.EBUSY}"
            definition = parse_services(args)
            handles = self.run(self._register(definition))
            return ";".join(",".join(str(h) for h in s) for s in handles)
        if op == "w":
            handle, update, data = args.split(" ")
            value = _unhex(data)
            with self.db.lock:
                target = self.db.values.get(int(handle))
                if target is None:
                    return f"E{errno.EINVAL}"
                target.local_write(value)
            if update == "1":
                self.loop.call_soon(self._send_update, int(handle), value)
            return ""
        if op in "ni":
            conn, handle, data = args.split(" ")
            connection = self.connections.get(int(conn))
            if connection is None:
                return f"E{errno.ENOTCONN}"
            if data == "N":
                with self.db.lock:
                    target = self.db.values.get(int(handle))
                    value = bytes(target.data) if target is not None else b""
            else:
                value = _unhex(data)
            self.loop.call_soon(self._send_now, connection, int(handle), value, op == "i")
            return ""
        if op == "s":
            handle, size, append = (int(a) for a in args.split())
            with self.db.lock:
                target = self.db.values.get(handle)
                if target is None:
                    return f"E{errno.EINVAL}"
                target.alloc, target.append = size, bool(append)
                target.data.clear()
            return ""
        if op == "v":
            return self._advertise(*args.split(" "))
        if op == "d":
            connection = self.connections.get(int(args))
            if connection is None:
                return "0"
            self.run(connection.disconnect())
            return "1"
        return f"E{errno.EINVAL}"

    def _advertise(self, interval: str, adv: str, resp: str, connectable: str) -> str:
        if interval == "N":
            self.run(self._stop_advertising())
            return ""
        if adv != "N":
            if len(_unhex(adv)) > ADV_MAX:
                return f"E{errno.EINVAL}"
            self.adv_data = _unhex(adv)
        if resp != "N":
            if len(_unhex(resp)) > ADV_MAX:
                return f"E{errno.EINVAL}"
            self.resp_data = _unhex(resp)
        if len(self.connections) >= MAX_CONNECTIONS:
            return f"E{errno.ENOMEM}"
        units = max(0x20, int(interval) // 625)  # 625 us units, at least 20 ms
        self.run(self._start_advertising(units * 0.625, connectable == "1"))
        return ""

    async def _start_advertising(self, interval_ms: float, connectable: bool) -> None:
        from bumble.device import AdvertisingType

        if self.device.is_advertising:
            await self.device.stop_advertising()
        kind = AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE if connectable else \
            AdvertisingType.UNDIRECTED_SCANNABLE
        await self.device.start_advertising(
            advertising_type=kind, own_address_type=hci.OwnAddressType.RANDOM,
            advertising_data=self.adv_data, scan_response_data=self.resp_data,
            advertising_interval_min=interval_ms, advertising_interval_max=interval_ms)
        self.advertising = True
        self.log.append("advertise")

    async def _stop_advertising(self) -> None:
        if self.device.is_advertising:
            await self.device.stop_advertising()
            self.log.append("advertise off")
        self.advertising = False

    async def _register(self, definition) -> list[list[int]]:
        return self.db.build(self.device.gatt_server, definition)

    def _send_update(self, handle: int, value: bytes) -> None:
        """On the loop: gatts_write(..., send_update=True): every subscribed central."""
        server = self.device.gatt_server
        flags = self.db.flags.get(handle, 0)
        for connection in list(self.connections.values()):
            cccd = server.subscribers.get(connection, {}).get(handle)
            if not cccd:
                continue
            if cccd[0] & 0x01 and flags & FLAG_NOTIFY:
                self._send_now(connection, handle, value, False)
            elif cccd[0] & 0x02 and flags & FLAG_INDICATE:
                self._send_now(connection, handle, value, True)

    def _next_event(self) -> str:
        with self.lock:
            if not self.events:
                return ""
            text, write = self.events.popleft()
        if write is not None:
            handle, value = write
            with self.db.lock:
                target = self.db.values.get(handle)
                if target is not None:
                    target.remote_write(value)
        return text

    def _set_active(self, on: bool) -> None:
        if on == self.active:
            return
        if on:
            self.active = True
            self.preferred_mtu = PREFERRED_MTU
            self.device.gatt_server.max_mtu = PREFERRED_MTU
            self.log.append("on")
            return
        self.reset()

    # ---- lifecycle -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Radio off (BLE().active(False), a soft or hard reset): links dropped, advertising
        stopped, the services and queued events gone."""
        with self.lock:
            was = self.active
            self.active = False
            self.handler = False
            self.events.clear()
        if was:
            self.log.append("off")
        try:
            self.run(self._off())
        except (TimeoutError, RuntimeError):
            pass

    async def _off(self) -> None:
        await self._stop_advertising()
        for connection in list(self.connections.values()):
            try:
                await asyncio.wait_for(connection.disconnect(), 2)
            except Exception:  # already gone
                pass
        self.connections.clear()
        self.db.clear(self.device.gatt_server)
        self.cut_when = None

    def handle_of(self, uuid: str) -> int:
        """The value handle of the registered characteristic with this UUID."""
        from bumble.core import UUID

        want = UUID(uuid)
        for handle, characteristic in self.db.characteristics.items():
            if characteristic.uuid == want:
                return handle
        raise KeyError(uuid)

    def central(self, name: str = "central", address: str | None = None) -> Device:
        """A powered bumble central on this radio's link (for tests and tools); close it with
        `remove(device)`."""
        return self.run(self._central(name, address))

    async def _central(self, name: str, address: str | None) -> Device:
        controller = Controller(f"{name}-controller", link=self.link)
        self._controllers.append(controller)
        device = Device(name=name, address=hci.Address(address) if address else
                        hci.Address.generate_static_address(),
                        host=Host(controller, AsyncPipeSink(controller)))
        await device.power_on()
        return device

    def serve_hci(self, spec: str = "tcp-server:127.0.0.1:0") -> str:
        """A controller on this radio's link behind the HCI transport `spec` (bumble's
        transports, e.g. `tcp-server:127.0.0.1:PORT`; port 0 picks a free one), for a host
        stack in another process: `retrorun ... --ble-transport tcp-client:127.0.0.1:PORT`.
        Returns the spec a client opens."""
        return self.run(self._serve(spec))

    async def _serve(self, spec: str) -> str:
        from bumble.transport import open_transport
        from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

        client = spec
        if spec.startswith("tcp-server:") and spec.endswith(":0"):
            import socket

            host = spec[len("tcp-server:"):].rsplit(":", 1)[0]
            sock = socket.socket()
            sock.bind((host, 0))
            transport = await open_tcp_server_transport_with_socket(sock)
            client = f"tcp-client:{host}:{sock.getsockname()[1]}"
        else:
            transport = await open_transport(spec)
            if spec.startswith("tcp-server:"):
                client = "tcp-client:" + spec[len("tcp-server:"):]
        controller = _ServedController("vboard-hci", host_source=transport.source,
                                       host_sink=transport.sink, link=self.link)
        self._controllers.append(controller)
        self._transports.append(transport)
        return client

    def close(self) -> None:
        """Radio off and everything on the link closed."""
        self.reset()

        async def shut() -> None:
            await self.device.power_off()
            for transport in self._transports:
                await transport.close()

        try:
            self.run(shut())
        except (TimeoutError, RuntimeError, OSError):
            pass


def _unhex(text: str) -> bytes:
    return b"" if text in ("", "-", "N") else bytes.fromhex(text)
