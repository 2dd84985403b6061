"""The file-transfer core on its own, in real MicroPython: streaming allocates nothing."""

import os

import pytest

pytestmark = pytest.mark.ble

SETUP = """
import struct
from retrofw.ble.filetransfer import FileTransferCore
from retrofw import wire, wire_ble
budget = [0]
sent = [0]


def send(view):
    if budget[0] <= 0:
        return False
    budget[0] -= 1
    sent[0] += len(view)
    return True


ft = FileTransferCore(send, "/sessions", lambda: True, None, PAYLOAD)
path = b"/sessions/a.bin"
ft.on_packet(struct.pack(wire_ble.FT_READ_FMT, wire_ble.FT_READ, 0, len(path), 0, 4000) + path)
budget[0] = FIRST
ft.resume()


def packets(_):
    budget[0] = STEADY
    ft.resume()
"""


@pytest.mark.parametrize(("payload", "first", "steady"), [(20, 2, 5), (244, 2, 5)])
def test_streaming_full_packets_allocates_nothing(mpy, device_fs, payload, first, steady):
    """Full data packets in the middle of a chunk: file -> packet buffer -> send, heap locked."""
    (device_fs / "sessions").mkdir()
    (device_fs / "sessions" / "a.bin").write_bytes(os.urandom(20_000))
    code = (SETUP.replace("PAYLOAD", str(payload)).replace("FIRST", str(first))
            .replace("STEADY", str(steady)))
    result = mpy.eval(code + """
before = sent[0]
no_alloc(packets, 0)
result = [sent[0] - before, ft.busy()]
""", fs=device_fs, heap_kb=256)
    assert result == [steady * payload, True]
