"""How long a sync takes on the air: a timing model over the in-memory link's packet trace,
and the measured sync-time table of docs/ble.md.

    python -m retrorun.link.ble.airtime [SIZE] [--json]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from retrofw import wire_ble
from retrorun.errors import RetrorunError
from retrorun.link.ble.device_cores import CPythonDevice
from retrorun.link.ble.link import GattLink, turns

# -- timing model -------------------------------------------------------------------------------
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
    """Sync one file of `size` bytes through the transport (connect, authenticate, SHA-256,
    sealed reads) over the in-memory link; return the trace and its totals."""
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
        size, digest = transport.file_hash(1)
        got = transport.read(1, 0, size)
        if got != data or hashlib.sha256(got).digest() != digest:
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
    """python -m retrorun.link.ble.airtime [SIZE] [--json]: the sync-time table of docs/ble.md."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m retrorun.link.ble.airtime",
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
