"""An in-memory GATT link: the real host libraries on one side, the device cores on the other.

No radio. The host side is `_bleio`-level: `LinkService` / `LinkCharacteristic` subclass
blinka's `_bleio.Service` / `_bleio.Characteristic`, so the real
`adafruit_ble_file_transfer.FileTransferService` binds to them, through the real
`adafruit_ble` descriptors and the compatibility shim's `PacketBuffer`, and the real
`FileTransferClient` drives the device. The device side is `retrofw.ble.gatt.Peripheral`,
running either in this process under CPython (`CPythonDevice`) or in real MicroPython
(`MicroPythonDevice`).

Realism: one ATT packet per write or notification, at most `payload` bytes (ATT_MTU - 3,
20..244); the device only notifies a characteristic the host subscribed to; `drop` loses chosen
packets in either direction (what a full notification queue or a capture queue overflow does on
a real stack); `disconnect_after` cuts the link after N device packets, mid-transfer. Every
packet is recorded in `trace` (direction, characteristic, length), from which `sync_time()`
computes the time a transfer takes at given connection settings.

MicroPython runs as ONE persistent VM per device (in a thread), not one run per exchange: the
device's state - the open file, the authenticated connection, the challenge nonce - lives in the
VM between packets exactly as on a board, and a 40 KB read (about 2,000 packets) costs one VM
start instead of 2,000. The VM asks for the next event with `host.call("next", answers)`.

Harness limits met on the way (the WASI build, not the board): compiling the cores from source
needs more than a 110 KB heap (a board imports them as .mpy), so the VM gets 256 KB; and a
garbage collection or a `host.call` deep inside a call chain corrupted the heap (memory faults,
"I/O operation on closed file"), so the loop collects garbage and refills a pool of random bytes
at its top, where the stack is shallow.
"""

from __future__ import annotations

import binascii
import json
import math
import os
import queue
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import _bleio

from retrofw import wire_ble
from retrofw.ble.gatt import CHAR_CONTROL, CHAR_TRANSFER, Peripheral
from retrorun.errors import RetrorunError
from retrorun.link.ble import shim

H2D = "h2d"  # host to device (ATT write without response)
D2H = "d2h"  # device to host (notification)
CHAR_VERSION = 2  # the file-transfer version characteristic (read only, served by the link)

# -- device sides -------------------------------------------------------------------------------
class CPythonDevice:
    """The device cores in this process. `root` is the folder that stands for the device's `/`."""

    def __init__(self, root: Path, *, random_bytes: Callable[[int], bytes] = os.urandom):
        from retrofw.ble.gatt import app_hooks

        fs_root = str(Path(root).resolve())
        self._out: list[tuple[int, bytes]] = []
        self.peripheral = Peripheral(self._send, "/sessions", wire_ble.BLE_SECRET_PATH,
                                     random_bytes=random_bytes, fs_root=fs_root,
                                     **app_hooks(fs_root))

    def _send(self, characteristic, view):
        self._out.append((characteristic, bytes(view)))
        return True

    def _take(self) -> list[tuple[int, bytes]]:
        out, self._out = self._out, []
        return out

    def connect(self, payload: int) -> list[tuple[int, bytes]]:
        self.peripheral.connect(payload)
        return self._take()

    def disconnect(self) -> None:
        self.peripheral.disconnect()

    def write(self, characteristic: int, data: bytes) -> list[tuple[int, bytes]]:
        self.peripheral.write(characteristic, data)
        return self._take()

    def close(self) -> None:
        pass


_MPY_DEVICE = """
import binascii
import json
import gc

import host
from retrofw.ble.gatt import Peripheral, app_hooks

out = []
pool = bytearray()


def send(characteristic, view):
    out.append("%d%s" % (characteristic, binascii.hexlify(view).decode()))
    return True


def random_bytes(n):
    global pool
    take = bytes(pool[:n])
    pool = pool[n:]
    return take


hooks = app_hooks("/")
peripheral = Peripheral(send, "/sessions", "/ble_secret", hooks["config_get"],
                        hooks["config_set"], hooks["status"], hooks["sessions"],
                        hooks["mark_synced"], random_bytes)
gc.collect()
answer = "ready %d" % gc.mem_alloc()
while True:
    # Top of the loop, shallow stack: refill the random pool and collect garbage here, so
    # neither host.call nor a collection happens deep inside the cores (see the docstring).
    if len(pool) < 64:
        pool = pool + binascii.unhexlify(host.call("random", "256"))
    if gc.mem_free() < 96 * 1024:
        gc.collect()
    event = host.call("next", answer)
    del out[:]
    kind = event[0]
    if kind == "W":
        peripheral.write(int(event[1]), binascii.unhexlify(event[2:]))
    elif kind == "C":
        peripheral.connect(int(event[1:]))
    elif kind == "D":
        peripheral.disconnect()
    elif kind == "Q":
        break
    answer = " ".join(out)
"""


class MicroPythonDevice:
    """The device cores in ONE persistent real-MicroPython VM (WASI build), `root` mounted at /."""

    def __init__(self, root: Path, *, random_bytes: Callable[[int], bytes] = os.urandom,
                 timeout: float = 60.0, heap_kb: int = 256):
        from retrorun.mpy import MicroPython

        self._requests: queue.Queue = queue.Queue()
        self._answers: queue.Queue = queue.Queue()
        self._timeout = timeout
        self._random = random_bytes
        self.error: str | None = None
        script = _MPY_DEVICE

        def next_event(answer: str) -> str:
            self._answers.put(answer)
            return self._requests.get()

        def random(n: str) -> str:
            return binascii.hexlify(self._random(int(n))).decode()

        def run() -> None:
            try:
                result = MicroPython(heap_kb=heap_kb).run(script, fs=root,
                                           host={"next": next_event, "random": random})
                if result.exit_code != 0:
                    self.error = result.stderr.strip() or result.stdout.strip()
            except Exception as exc:  # reported to the waiting side, never swallowed
                self.error = str(exc)
            self._answers.put(None)

        self._thread = threading.Thread(target=run, name="micropython-device", daemon=True)
        self._thread.start()
        ready = self._answer().split()
        if not ready or ready[0] != "ready":
            raise RetrorunError("the MicroPython device did not start")
        self.heap_used = int(ready[1])  # bytes in use after imports and setup (gc.mem_alloc)

    def _answer(self) -> str:
        try:
            answer = self._answers.get(timeout=self._timeout)
        except queue.Empty:
            raise RetrorunError("the MicroPython device did not answer") from None
        if answer is None:
            raise RetrorunError(f"the MicroPython device stopped: {self.error}")
        return answer

    def _exchange(self, event: str) -> list[tuple[int, bytes]]:
        self._requests.put(event)
        answer = self._answer()
        return [(int(item[0]), binascii.unhexlify(item[1:])) for item in answer.split()]

    def connect(self, payload: int) -> list[tuple[int, bytes]]:
        return self._exchange(f"C{payload}")

    def disconnect(self) -> None:
        self._exchange("D")

    def write(self, characteristic: int, data: bytes) -> list[tuple[int, bytes]]:
        return self._exchange(f"W{characteristic}{data.hex()}")

    def close(self) -> None:
        if self._thread.is_alive():
            self._requests.put("Q")
            self._thread.join(timeout=10)


# -- the _bleio-level host side -----------------------------------------------------------------
class LinkCharacteristic(_bleio.Characteristic):
    """A remote characteristic whose value and notifications go through the in-memory link."""

    def __init__(self, link: GattLink, key: int, uuid: str, properties: int, service):
        super().__init__(uuid=_bleio.UUID(uuid), properties=properties)
        self._link = link
        self._key = key
        self._service = service
        self._generation = link.generation

    @property
    def value(self) -> bytes:
        return self._link.read(self._key, self._generation)

    @value.setter
    def value(self, data) -> None:
        self._link.write(self._key, bytes(data), self._generation)

    def set_cccd(self, *, notify: bool = False, indicate: bool = False) -> None:
        self._link.subscribe(self._key, self if notify else None)


class LinkConnection:
    """What adafruit_ble's BLEConnection offers the transport: `conn[ServiceClass]`, state."""

    def __init__(self, link: GattLink):
        self._link = link
        self.generation = link.generation
        self._bound: dict[type, object] = {}

    @property
    def connected(self) -> bool:
        return self._link.connected and self._link.generation == self.generation

    @property
    def max_packet_length(self) -> int:
        return self._link.payload

    def disconnect(self) -> None:
        if self.connected:
            self._link.disconnect()

    def __getitem__(self, service_class):
        if service_class not in self._bound:
            uuid = service_class.uuid.bleio_uuid
            bleio_service = self._link.remote_service(uuid, self)
            if bleio_service is None:
                raise KeyError(f"no service {uuid} on the device")
            self._bound[service_class] = service_class(service=bleio_service)
        return self._bound[service_class]

    def __contains__(self, service_class) -> bool:
        return self._link.remote_service(service_class.uuid.bleio_uuid, self) is not None


class LinkService(_bleio.Service):
    def __init__(self, uuid, connection: LinkConnection):
        super().__init__(uuid, remote=True)
        self._connection = connection

    def set_characteristics(self, characteristics) -> None:
        self._characteristics = tuple(characteristics)


class GattLink:
    """The radio between one host and one device. See the module docstring."""

    def __init__(self, device, *, payload: int = wire_ble.BLE_PAYLOAD_MIN,
                 drop: Callable[[str, int, bytes], bool] | None = None,
                 disconnect_after: int | None = None):
        if not wire_ble.BLE_PAYLOAD_MIN <= payload <= wire_ble.BLE_PAYLOAD_MAX:
            raise ValueError(f"payload must be {wire_ble.BLE_PAYLOAD_MIN}..{wire_ble.BLE_PAYLOAD_MAX}")
        shim.install()
        self.device = device
        self.payload = payload
        self.drop = drop
        self.disconnect_after = disconnect_after
        self.connected = False
        self.generation = 0
        self.subscribers: dict[int, LinkCharacteristic] = {}
        self.trace: list[tuple[str, int, int]] = []
        self.dropped = {H2D: 0, D2H: 0}
        self.counts = {H2D: 0, D2H: 0}
        self.connections = 0

    # connection life
    def connect(self) -> LinkConnection:
        if self.connected:
            self.disconnect()
        self.generation += 1
        self.connected = True
        self.connections += 1
        self.subscribers = {}
        self._deliver(self.device.connect(self.payload))
        return LinkConnection(self)

    def disconnect(self) -> None:
        if self.connected:
            self.connected = False
            self.subscribers = {}
            self.device.disconnect()

    def close(self) -> None:
        self.disconnect()
        self.device.close()

    def remote_service(self, uuid, connection: LinkConnection):
        """The device's service with this `_bleio.UUID`, as seen over `connection` (or None)."""
        notify = _bleio.Characteristic.NOTIFY
        write_nr = _bleio.Characteristic.WRITE_NO_RESPONSE
        read = _bleio.Characteristic.READ
        if uuid == _bleio.UUID(wire_ble.UUID_FT_SERVICE):
            service = LinkService(uuid, connection)
            service.set_characteristics([
                LinkCharacteristic(self, CHAR_VERSION, wire_ble.UUID_FT_VERSION, read, service),
                LinkCharacteristic(self, CHAR_TRANSFER, wire_ble.UUID_FT_TRANSFER,
                                   read | write_nr | notify, service),
            ])
            return service
        if uuid == _bleio.UUID(wire_ble.UUID_RR_SERVICE):
            service = LinkService(uuid, connection)
            service.set_characteristics([
                LinkCharacteristic(self, CHAR_CONTROL, wire_ble.UUID_RR_CONTROL, write_nr | notify,
                                   service),
            ])
            return service
        return None

    # traffic
    def _check(self, generation: int) -> None:
        if not self.connected or generation != self.generation:
            raise _bleio.ConnectionError("not connected")

    def subscribe(self, key: int, characteristic: LinkCharacteristic | None) -> None:
        if characteristic is None:
            self.subscribers.pop(key, None)
        else:
            self.subscribers[key] = characteristic

    def read(self, key: int, generation: int) -> bytes:
        self._check(generation)
        if key == CHAR_VERSION:
            return struct.pack("<I", wire_ble.FT_VERSION)
        return b""

    def write(self, key: int, data: bytes, generation: int) -> None:
        self._check(generation)
        if len(data) > self.payload:
            raise ValueError(f"ATT write of {len(data)} bytes > payload {self.payload}")
        index = self.counts[H2D]
        self.counts[H2D] += 1
        self.trace.append((H2D, key, len(data)))
        if self.drop is not None and self.drop(H2D, index, data):
            self.dropped[H2D] += 1
            return
        self._deliver(self.device.write(key, data))

    def _deliver(self, packets: list[tuple[int, bytes]]) -> None:
        for key, data in packets:
            if not self.connected:
                return
            if len(data) > self.payload:
                raise AssertionError(f"device notified {len(data)} bytes > payload {self.payload}")
            index = self.counts[D2H]
            self.counts[D2H] += 1
            self.trace.append((D2H, key, len(data)))
            if self.disconnect_after is not None and index + 1 >= self.disconnect_after:
                self.disconnect_after = None
                self.disconnect()
                return
            if self.drop is not None and self.drop(D2H, index, data):
                self.dropped[D2H] += 1
                continue
            subscriber = self.subscribers.get(key)
            if subscriber is not None:
                subscriber._notify_callback(None, data)

    def stats(self) -> dict:
        """Packets and ATT payload bytes per direction (what the protocol put on the air)."""
        out = {}
        for direction in (H2D, D2H):
            sizes = [n for d, _, n in self.trace if d == direction]
            out[direction] = {"packets": len(sizes), "bytes": sum(sizes)}
        out["turns"] = len(turns(self.trace))
        return out


# -- timing model -------------------------------------------------------------------------------
def turns(trace) -> list[tuple[str, list[int]]]:
    """Group a trace into turns: runs of packets in one direction (a turn waits for the last)."""
    groups: list[tuple[str, list[int]]] = []
    for direction, _, length in trace:
        if groups and groups[-1][0] == direction:
            groups[-1][1].append(length)
        else:
            groups.append((direction, [length]))
    return groups


ATT_HEADER = 3  # opcode + handle
L2CAP_HEADER = 4
LL_OVERHEAD_BYTES = 1 + 4 + 2 + 4 + 3  # preamble, access address, header, MIC, CRC
T_IFS_US = 150
EMPTY_PDU_US = (1 + 4 + 2 + 3) * 8  # the peer's empty acknowledgement, unencrypted


def packet_airtime_us(att_payload: int, ll_max: int, phy_mbps: int = 1) -> float:
    """Air time of one ATT packet: its LL fragments, each acknowledged, at 1 or 2 Mbit/s."""
    l2cap = att_payload + ATT_HEADER + L2CAP_HEADER
    fragments = math.ceil(l2cap / ll_max)
    data_bits = (l2cap + fragments * LL_OVERHEAD_BYTES) * 8
    return data_bits / phy_mbps + fragments * (2 * T_IFS_US + EMPTY_PDU_US / phy_mbps)


def sync_time(trace, *, interval_ms: float, packets_per_event: int, ll_max: int = 27,
              phy_mbps: int = 1) -> float:
    """Seconds to replay `trace` at a connection interval, with a cap on packets per event.

    Model: a turn (run of packets one way) starts at the next connection event after the
    previous turn, so every change of direction costs at least one interval; within a turn,
    an event carries at most `packets_per_event` packets and no more than fits in the interval
    on the air (LL fragments of at most `ll_max` bytes: 27 without, 251 with data length
    extension).
    """
    events = 0
    for _, sizes in turns(trace):
        largest = max(sizes)
        fit = max(1, int(interval_ms * 1000 // packet_airtime_us(largest, ll_max, phy_mbps)))
        per_event = min(packets_per_event, fit)
        events += math.ceil(len(sizes) / per_event)
    return events * interval_ms / 1000.0


# -- measurement (docs/ble.md) ------------------------------------------------------------------
SETTINGS = (  # (label, ATT payload, LL max PDU payload)
    ("MTU 23", 20, 27),
    ("MTU 247 + DLE", 244, 251),
)
INTERVALS_MS = (7.5, 15.0, 30.0, 50.0)
PACKETS_PER_EVENT = (4, 100)  # 4: a cautious stack (many phones); 100: only air time limits


def measure(size: int, payload: int, *, data: bytes | None = None) -> dict:
    """Sync one file of `size` bytes through the real client and the transport (connect,
    authenticate, SHA-256, read) over the in-memory link; return the trace and its totals."""
    import tempfile

    from retrorun.link.ble.transport import BleTransport

    data = data if data is not None else os.urandom(size)
    secret = os.urandom(wire_ble.AUTH_SECRET_SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "sessions").mkdir()
        (root / "sessions" / "000001.rrl").write_bytes(data)
        (root / "ble_secret").write_bytes(secret)
        link = GattLink(CPythonDevice(root), payload=payload)
        transport = BleTransport(link.connect, secret)
        if transport.read_file("000001.rrl") != data:
            raise RetrorunError("the measured transfer was not byte-identical")
        link.close()
    stats = link.stats()
    att = stats["h2d"]["bytes"] + stats["d2h"]["bytes"]
    packets = stats["h2d"]["packets"] + stats["d2h"]["packets"]
    return {"file_bytes": len(data), "payload": payload, "trace": link.trace, **stats,
            "att_payload_bytes": att, "packets": packets,
            "overhead_att": att / len(data),
            "overhead_l2cap": (att + packets * (ATT_HEADER + L2CAP_HEADER)) / len(data)}


def sync_table(size: int = 40_000) -> list[dict]:
    rows = []
    for label, payload, ll_max in SETTINGS:
        m = measure(size, payload)
        for interval in INTERVALS_MS:
            for ppe in PACKETS_PER_EVENT:
                rows.append({"setting": label, "payload": payload, "interval_ms": interval,
                             "packets_per_event": ppe, "file_bytes": m["file_bytes"],
                             "packets": m["packets"], "turns": m["turns"],
                             "overhead_att": round(m["overhead_att"], 4),
                             "overhead_l2cap": round(m["overhead_l2cap"], 4),
                             "seconds": round(sync_time(m["trace"], interval_ms=interval,
                                                        packets_per_event=ppe,
                                                        ll_max=ll_max), 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """python -m retrorun.link.ble.link [SIZE] [--json]: the sync-time table of docs/ble.md."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m retrorun.link.ble.link",
                                     description="measured BLE sync overhead and time")
    parser.add_argument("size", nargs="?", type=int, default=40_000, help="file bytes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = sync_table(args.size)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"file {args.size} bytes; overhead = ATT payload bytes both ways / file bytes")
    print(f"{'setting':14} {'packets':>7} {'turns':>5} {'ovh ATT':>8} {'ovh L2CAP':>9} "
          f"{'interval':>8} {'pkts/event':>10} {'seconds':>8}")
    for r in rows:
        print(f"{r['setting']:14} {r['packets']:7} {r['turns']:5} {r['overhead_att']:8.3f} "
              f"{r['overhead_l2cap']:9.3f} {r['interval_ms']:8} {r['packets_per_event']:10} "
              f"{r['seconds']:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
