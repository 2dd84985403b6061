"""The device API over the REPL: compact JSON answers and a binary-safe, efficient read()."""

import hashlib
import json

import pytest
from logs_support import record_session

from retrofw import wire

# The WASI build's garbage collector can free frames that only wasm locals hold; a heap this
# large keeps it from running during these allocation-heavy calls (see docs/device-api.md).
from retrorun.devtools.mpy import NO_GC_HEAP_KB


def _device_call(mpy, fs, code):
    out = []
    res = mpy.run("import retrofw.api as api\napi.ROOT = '/'\n" + code, fs=fs,
                  stdout=out.append, heap_kb=NO_GC_HEAP_KB)
    assert res.exit_code == 0, res.stderr
    return b"".join(out)


def _json(out):
    return json.loads(out.decode().strip().splitlines()[-1])


def _unframe(out, offset):
    head, sep, body = out.partition(b"\n")
    assert sep
    got_offset, length, crc = wire.api_parse_read_header(head.decode())
    assert b"\x04" not in body, "0x04 would end the raw REPL's output"
    data = wire.api_unescape(body)
    assert got_offset == offset and len(data) == length
    import binascii

    assert binascii.crc32(data) == crc
    return data


@pytest.mark.micropython
def test_read_is_binary_safe_and_efficient_on_the_wire(mpy, device_fs):
    data = record_session(device_fs, seconds=900, seed=5)
    sessions = device_fs / "sessions"
    nasty = bytes(range(256)) * 4 + b"\x04\x1b" * 300  # every byte value, and runs of both
    (sessions / "000002.rrl").write_bytes(nasty)
    offsets = list(range(0, len(data), wire.API_READ_MAX))
    code = "".join(f"api.read(1, {o}, {wire.API_READ_MAX})\n" for o in offsets)
    out = _device_call(mpy, device_fs, code)
    got = b""
    rest = out
    for o in offsets:
        head, _, tail = rest.partition(b"\n")
        length = int(head.split()[2])
        # find where this chunk's escaped body ends: unescape until `length` bytes
        body_end = 0
        produced = 0
        while produced < length:
            body_end += 2 if tail[body_end] == wire.API_ESC else 1
            produced += 1
        got += _unframe(head + b"\n" + tail[:body_end], o)
        rest = tail[body_end:]
    assert got == data
    efficiency = len(data) / len(out)
    assert efficiency >= 0.9, f"payload/wire {efficiency:.3f} is below 0.9"
    out = _device_call(mpy, device_fs, "api.read(2, 0, 4096)")
    assert _unframe(out, 0) == nasty
    out = _device_call(mpy, device_fs, "api.read(2, 1000, 10)")
    assert _unframe(out, 1000) == nasty[1000:1010]
    assert _json(_device_call(mpy, device_fs, "api.read(9, 0, 10)")) == \
        {"ok": False, "error": "no session 9"}


def test_escape_round_trips_every_byte_in_cpython():
    data = bytes(range(256)) * 2 + b"\x1b\x1b\x04\x04"
    framed = bytes(wire.api_escape(data))
    assert b"\x04" not in framed
    assert wire.api_unescape(framed) == data
    with pytest.raises(ValueError):
        wire.api_unescape(b"abc\x1b")
    with pytest.raises(ValueError):
        wire.api_unescape(b"abc\x1bX")


@pytest.mark.micropython
def test_status_sessions_mark_synced_digest(mpy, device_fs):
    data = record_session(device_fs, seconds=60, seed=2)
    record_session(device_fs, seconds=30, seed=3)
    status = _json(_device_call(mpy, device_fs, "api.status()"))
    assert status["ok"] and status["sessions"] == 2 and status["unsynced"] == 2
    assert status["api"] == wire.API_VERSION and status["log_format"] == wire.LOG_FORMAT_VERSION
    assert status["recording"] is None and status["storage_full"] is False
    assert "free_kb" in status and "battery_mv" in status and "sensor" in status
    listing = _json(_device_call(mpy, device_fs, "api.sessions()"))["sessions"]
    assert [(s["id"], s["size"], s["complete"], s["synced"]) for s in listing] == \
        [(1, len(data), True, False), (2, (device_fs / "sessions/000002.rrl").stat().st_size,
                                      True, False)]
    answer = _json(_device_call(mpy, device_fs, "api.digest(1)"))
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()
    assert _json(_device_call(mpy, device_fs, "api.mark_synced(1)")) == {"ok": True, "id": 1}
    status = _json(_device_call(mpy, device_fs, "api.status()"))
    assert status["unsynced"] == 1
    assert _json(_device_call(mpy, device_fs, "api.mark_synced(7)"))["ok"] is False


@pytest.mark.micropython
def test_config_get_and_set_over_the_api(mpy, device_fs):
    got = _json(_device_call(mpy, device_fs, "api.config_get()"))
    assert got["config"]["alert.fault_timeout_ms"] == 500 and got["fallback"] == 0
    bad = _json(_device_call(mpy, device_fs,
                             "api.config_set({'alert.fault_timeout_ms': 50})"))
    assert bad["ok"] is False
    assert bad["errors"] == ["alert.fault_timeout_ms=50 is out of range: valid 100..1000 ms"]
    assert not (device_fs / "config.json").exists(), "a refused change writes nothing"
    ok = _json(_device_call(mpy, device_fs,
                            "api.config_set({'haptic.strength': 40, 'alert.mode': 'track'})"))
    assert ok["ok"] and ok["config"]["haptic.strength"] == 40
    assert json.loads((device_fs / "config.json").read_text()) == \
        {"alert.mode": "track", "haptic.strength": 40}
    again = _json(_device_call(mpy, device_fs, "api.config_get()"))
    assert again["config"]["alert.mode"] == "track" and again["hash"] == ok["hash"] != got["hash"]
