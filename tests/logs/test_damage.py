"""Damage: single bit flips lose at most the damaged record plus one and never invent a record;
the decoder survives anything (Hypothesis, >= 10,000 examples) with only documented problems."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logs_support import frames_of

from retrofw import logfmt
from retrorun.sessions import logdecode


def _by_offset(records):
    out = {}
    for r in records:
        out.setdefault(r["offset"], []).append(r)
    return out


def test_a_flipped_bit_loses_at_most_two_records_and_invents_none(session_bytes):
    data = session_bytes
    frames = frames_of(data)
    original = _by_offset(logdecode.decode(data)[0])
    flips = 0
    for bit in range(0, len(data) * 8, 7):  # every byte, a different bit each time
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        records, problems = logdecode.decode(bytes(damaged))
        got = _by_offset(records)
        for off, recs in got.items():
            assert original.get(off) == recs, \
                f"bit {bit}: decoded a record that was never written at {off}: {recs[0]}"
        lost = [o for o in original if o not in got]
        assert 1 <= len(lost) <= 2, f"bit {bit}: lost frames at {lost}"
        hit = next(o for o, n in frames if o <= bit // 8 < o + n)
        assert hit in lost, f"bit {bit}: the damaged frame at {hit} was accepted"
        assert problems, f"bit {bit}: damage went unreported"
        flips += 1
    assert flips >= 3000


def _mutations(session):
    """Valid sessions cut, spliced, overwritten or duplicated: damage a reader meets."""
    n = len(session)
    pos = st.integers(0, n)
    return st.one_of(
        st.tuples(pos, pos).map(lambda ab: session[:min(ab)] + session[max(ab):]),
        st.tuples(pos, st.binary(max_size=40)).map(
            lambda pb: session[:pb[0]] + pb[1] + session[pb[0]:]),
        st.tuples(pos, st.binary(min_size=1, max_size=40)).map(
            lambda pb: session[:pb[0]] + pb[1] + session[pb[0] + len(pb[1]):]),
        st.tuples(pos, pos).map(lambda ab: session[:max(ab)] + session[min(ab):]),
    )


@pytest.fixture(scope="module")
def small_session(session_bytes):
    return session_bytes[:900]


def _check_decoder_contract(data):
    records, problems = logdecode.decode(data)
    last_end = 0
    for r in records:
        off = r["offset"]
        size = logfmt.frame_check(data, off, len(data))
        assert size > 0, "every record comes from a valid frame"
        assert off >= last_end or off == records[records.index(r) - 1]["offset"]
        last_end = off + size
    covered = 0
    for p in problems:
        assert p["problem"] in ("damaged", "torn_tail", "version")
        assert p["offset"] >= 0 and p["offset"] + p["length"] <= len(data) and p["length"] > 0
        assert isinstance(p["message"], str) and "\n" not in p["message"]
        covered += p["length"]
    assert covered <= len(data)


@pytest.mark.slow
def test_decoder_fuzz_never_fails(small_session):
    examples = []

    @settings(max_examples=10_000, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.one_of(st.binary(max_size=300),
                     st.lists(st.sampled_from([b"\xa5", b"\xa5\x03\x0a", b"\x00", b"\xff",
                                               b"\xa5\x05\x16", b"\x80"]),
                              max_size=60).map(b"".join),
                     _mutations(small_session)))
    def fuzz(data):
        examples.append(1)
        _check_decoder_contract(data)

    fuzz()
    assert len(examples) >= 10_000


class _File:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_device_recovery_scan_and_host_decoder_agree(session_bytes, data):
    damaged = data.draw(_mutations(session_bytes[:2000]))
    seen = []
    end, count, _ = logfmt.scan_file(_File(damaged), lambda b, p, off: seen.append(off))
    records, _ = logdecode.decode(damaged)
    offsets = sorted({r["offset"] for r in records})
    assert seen == offsets and count == len(offsets)
    if offsets:
        last = offsets[-1]
        assert end == last + damaged[last + 2] + 5
