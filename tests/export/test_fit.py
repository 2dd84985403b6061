"""The FIT encoder, checked by independent decoders (fitdecode, and garmin-fit-sdk if installed).

Every value written is read back by name through the decoders' own copy of the FIT profile,
so a wrong message or field number, scale, base type or CRC fails here.
"""

from __future__ import annotations

import io
import math
import struct
from datetime import UTC, datetime, timedelta, timezone

import fitdecode
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrorun.sessions import fit

try:
    from garmin_fit_sdk import Decoder, Stream
except ImportError:  # optional second decoder
    Decoder = Stream = None

START = datetime(2026, 5, 1, 7, 30, 5, tzinfo=timezone(timedelta(hours=2)))


def _samples(n=30, speed=True):
    out = []
    for i in range(n):
        out.append({
            "t_s": i,
            "distance_to_obstacle_m": None if i % 5 == 0 else round(6.0 - 0.15 * i, 2),
            "cadence_spm": 0 if i == 0 else 150 + (i * 7) % 31,
            "steps_total": i * 3 - (1 if i else 0),
            **({"speed_mps": round(1.8 + 0.05 * (i % 6), 3)} if speed else {}),
        })
    return out


def _decode(data: bytes) -> dict[str, list[dict]]:
    """fitdecode, with CRC checks raising; messages by name, fields by name (with dev fields)."""
    messages: dict[str, list[dict]] = {}
    with fitdecode.FitReader(io.BytesIO(data), check_crc=fitdecode.CrcCheck.RAISE) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage):
                messages.setdefault(frame.name, []).append(
                    {f.name: f.value for f in frame.fields})
    return messages


def _crc16_bitwise(data: bytes) -> int:
    """CRC-16/ARC the long way (reflected polynomial 0xA001, init 0): the FIT CRC."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_crc16_matches_the_standard_check_value_and_a_bitwise_implementation():
    assert fit.crc16(b"123456789") == 0xBB3D  # CRC-16/ARC check value
    blob = bytes(range(256)) * 3 + b"retrorun"
    assert fit.crc16(blob) == _crc16_bitwise(blob)


def test_header_and_file_crcs_are_valid():
    data = fit.encode_activity(START, _samples())
    size, proto, profile, data_size, magic, header_crc = struct.unpack("<BBHI4sH", data[:14])
    assert (size, magic) == (14, b".FIT")
    assert proto == 0x20 and profile == fit.PROFILE_VERSION
    assert data_size == len(data) - 16
    assert header_crc == _crc16_bitwise(data[:12])
    assert struct.unpack("<H", data[-2:])[0] == _crc16_bitwise(data[:-2])
    assert _crc16_bitwise(data) == 0  # a CRC over data + its CRC is zero


def test_a_corrupted_byte_is_caught_by_the_decoder():
    data = bytearray(fit.encode_activity(START, _samples()))
    data[len(data) // 2] ^= 0x01
    with pytest.raises(fitdecode.FitCRCError):
        _decode(bytes(data))


def test_every_value_round_trips_through_fitdecode():
    samples = _samples()
    data = fit.encode_activity(START, samples, serial_number=1234567)
    msgs = _decode(data)
    start_utc = START.astimezone(UTC)
    end_utc = start_utc + timedelta(seconds=samples[-1]["t_s"])

    (file_id,) = msgs["file_id"]
    assert file_id["type"] == "activity"
    assert file_id["manufacturer"] == "development"
    assert file_id["time_created"] == start_utc
    assert file_id["serial_number"] == 1234567
    assert file_id["product_name"] == "retrorun"

    (description,) = msgs["field_description"]
    assert description["field_name"] == "obstacle_distance"
    assert description["units"] == "m"
    assert description["fit_base_type_id"] == "float32"
    assert description["native_mesg_num"] == "record"

    records = msgs["record"]
    assert len(records) == len(samples)
    distance = 0.0
    for i, (rec, s) in enumerate(zip(records, samples, strict=True)):
        assert rec["timestamp"] == start_utc + timedelta(seconds=s["t_s"])
        assert rec["speed"] == pytest.approx(s["speed_mps"], abs=5e-4)
        if i:
            distance += (s["speed_mps"] + samples[i - 1]["speed_mps"]) / 2
        assert rec["distance"] == pytest.approx(distance, abs=0.0051)
        steps_per_min = 2 * (rec["cadence"] + rec["fractional_cadence"])
        assert steps_per_min == pytest.approx(s["cadence_spm"], abs=1 / 64)
        if s["distance_to_obstacle_m"] is None:
            assert rec.get("obstacle_distance") is None
        else:
            assert rec["obstacle_distance"] == pytest.approx(s["distance_to_obstacle_m"],
                                                             rel=1e-6)

    cadences = [s["cadence_spm"] for s in samples if s["cadence_spm"]]
    total_distance = distance
    for kind in ("lap", "session"):
        (msg,) = msgs[kind]
        assert msg["start_time"] == start_utc
        assert msg["timestamp"] == end_utc
        assert msg["total_elapsed_time"] == pytest.approx(samples[-1]["t_s"])
        assert msg["total_timer_time"] == pytest.approx(samples[-1]["t_s"])
        assert msg["total_distance"] == pytest.approx(total_distance, abs=0.0051)
        assert msg["total_strides"] == samples[-1]["steps_total"] // 2
        assert msg["sport"] == "running"
        avg = 2 * (msg["avg_running_cadence"] + msg["avg_fractional_cadence"])
        top = 2 * (msg["max_running_cadence"] + msg["max_fractional_cadence"])
        assert avg == pytest.approx(sum(cadences) / len(cadences), abs=1 / 64)
        assert top == pytest.approx(max(cadences), abs=1 / 64)
        assert msg["max_speed"] == pytest.approx(max(s["speed_mps"] for s in samples))
        assert msg["avg_speed"] == pytest.approx(total_distance / samples[-1]["t_s"], abs=1e-3)
    (session,) = msgs["session"]
    assert session["num_laps"] == 1

    (activity,) = msgs["activity"]
    assert activity["num_sessions"] == 1
    assert activity["total_timer_time"] == pytest.approx(samples[-1]["t_s"])
    assert activity["timestamp"] == end_utc
    # local_timestamp: local wall-clock seconds since the FIT epoch (+2 h here)
    local = activity["local_timestamp"]
    local_s = local if isinstance(local, int) else int(
        (local.replace(tzinfo=UTC) - datetime(1989, 12, 31, tzinfo=UTC)).total_seconds())
    assert local_s == int(end_utc.timestamp()) - fit.FIT_EPOCH_UNIX + 7200

    events = msgs["event"]
    assert [(e["event"], e["event_type"]) for e in events] == [("timer", "start"),
                                                               ("timer", "stop_all")]


def test_samples_without_speed_leave_distance_and_speed_invalid():
    samples = _samples(speed=False)
    msgs = _decode(fit.encode_activity(1_777_777_777, samples))
    assert all(r["distance"] is None and r["speed"] is None for r in msgs["record"])
    assert msgs["session"][0]["total_distance"] is None
    assert msgs["record"][0]["timestamp"] == datetime.fromtimestamp(1_777_777_777, UTC)
    assert "local_timestamp" not in msgs["activity"][0]


def test_unix_seconds_and_naive_datetimes_mean_utc():
    naive = datetime(2026, 1, 2, 3, 4, 5)
    a = fit.encode_activity(naive, _samples(5))
    b = fit.encode_activity(naive.replace(tzinfo=UTC).timestamp(), _samples(5))
    assert a == b


def test_out_of_range_inputs_are_refused():
    with pytest.raises(ValueError, match="outside"):
        fit.encode_activity(0, _samples(3))
    with pytest.raises(ValueError, match="cadence"):
        fit.encode_activity(START, [{"t_s": 0, "distance_to_obstacle_m": 1.0,
                                     "cadence_spm": 600, "steps_total": 0}])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(
    st.one_of(st.none(), st.floats(0.02, 40.0, allow_nan=False)),
    st.floats(0, 300, allow_nan=False),
    st.one_of(st.none(), st.floats(0, 9.0, allow_nan=False)),
), min_size=1, max_size=40))
def test_random_sessions_round_trip(rows):
    samples = [{"t_s": i, "distance_to_obstacle_m": d, "cadence_spm": c, "steps_total": 2 * i,
                "speed_mps": v} for i, (d, c, v) in enumerate(rows)]
    records = _decode(fit.encode_activity(START, samples))["record"]
    assert len(records) == len(samples)
    for rec, s in zip(records, samples, strict=True):
        if s["distance_to_obstacle_m"] is None:
            assert rec.get("obstacle_distance") is None
        else:
            assert math.isclose(rec["obstacle_distance"], s["distance_to_obstacle_m"],
                                rel_tol=1e-6)
        assert 2 * (rec["cadence"] + rec["fractional_cadence"]) == pytest.approx(
            s["cadence_spm"], abs=1 / 64)
        if s["speed_mps"] is None:
            assert rec["speed"] is None
        else:
            assert rec["speed"] == pytest.approx(s["speed_mps"], abs=5e-4)


@pytest.mark.skipif(Decoder is None, reason="garmin-fit-sdk not installed")
def test_garmin_fit_sdk_reads_the_file_and_the_developer_field():
    samples = _samples()
    data = fit.encode_activity(START, samples)
    decoder = Decoder(Stream.from_byte_array(bytearray(data)))
    assert decoder.is_fit()
    assert decoder.check_integrity()
    decoder = Decoder(Stream.from_byte_array(bytearray(data)))
    messages, errors = decoder.read()
    assert errors == []
    (description,) = messages["field_description_mesgs"]
    assert description["field_name"] == "obstacle_distance"
    key = description["field_definition_number"]
    records = messages["record_mesgs"]
    assert len(records) == len(samples)
    for rec, s in zip(records, samples, strict=True):
        value = rec.get("developer_fields", {}).get(key)
        if s["distance_to_obstacle_m"] is None:
            assert value is None
        else:
            assert value == pytest.approx(s["distance_to_obstacle_m"], rel=1e-6)
        assert rec["cadence"] + rec["fractional_cadence"] == pytest.approx(
            s["cadence_spm"] / 2, abs=1 / 128)
    (session,) = messages["session_mesgs"]
    assert session["sport"] == "running"
    assert session["total_strides"] == samples[-1]["steps_total"] // 2
    assert session["start_time"] == START.astimezone(UTC)
    assert messages["file_id_mesgs"][0]["type"] == "activity"
    assert messages["activity_mesgs"][0]["num_sessions"] == 1


def test_faster_samples_fold_into_one_record_per_second():
    samples = [{"t_s": i / 10, "distance_to_obstacle_m": None if i % 10 < 3 else 5 - i / 20,
                "cadence_spm": 150 + i, "steps_total": i // 2, "speed_mps": 2.0}
               for i in range(50)]
    msgs = _decode(fit.encode_activity(START, samples))
    records = msgs["record"]
    assert len(records) == 5
    start_utc = START.astimezone(UTC)
    for second, rec in enumerate(records):
        in_second = samples[second * 10:(second + 1) * 10]
        assert rec["timestamp"] == start_utc + timedelta(seconds=second)
        seen = [s["distance_to_obstacle_m"] for s in in_second
                if s["distance_to_obstacle_m"] is not None]
        assert rec["obstacle_distance"] == pytest.approx(min(seen), rel=1e-6)
        assert 2 * (rec["cadence"] + rec["fractional_cadence"]) == pytest.approx(
            in_second[-1]["cadence_spm"], abs=1 / 64)
        assert rec["distance"] == pytest.approx(in_second[-1]["t_s"] * 2.0, abs=0.0051)
    session = msgs["session"][0]
    mean = sum(s["cadence_spm"] for s in samples) / len(samples)
    assert 2 * (session["avg_running_cadence"] + session["avg_fractional_cadence"]) == \
        pytest.approx(mean, abs=1 / 64)
    assert session["total_elapsed_time"] == pytest.approx(4.9)


def test_a_value_too_large_for_its_field_names_the_field():
    with pytest.raises(ValueError, match="field 3"):
        fit.encode_activity(START, _samples(3), serial_number=1 << 40)
