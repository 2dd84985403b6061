"""`retrorun logs decode|check` and `retrorun bench logs` on the golden session and on damage.

tests/data/session-golden.bin was recorded by the device code in real MicroPython
(tools/make_golden_session.py); the host decodes it here."""

import json
import sys
from pathlib import Path

import pytest

from retrofw import wire
from retrorun.cli.main import main
from retrorun.sessions import logdecode

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "session-golden.bin"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_golden_session_decodes_completely(capsys):
    status, out, err = _run(capsys, "logs", "decode", str(GOLDEN), "--json")
    assert status == 0 and err == ""
    doc = json.loads(out)
    records = doc["records"]
    assert doc["problems"] == []
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "header" and kinds[-1] == "footer"
    samples = [r for r in records if r["kind"] == "sample"]
    events = [r for r in records if r["kind"] == "event"]
    snaps = [r for r in records if r["kind"] == "snapshot"]
    footer = records[-1]
    assert len(samples) == 360, "six minutes of 1 s samples"
    assert records[0]["board"] == "golden-devkit" and records[0]["version"] == 1
    levels = {e["level"] for e in events if e["event"] == "alert"}
    assert {wire.ALERT_NOTICE, wire.ALERT_WARNING, wire.ALERT_STOP, wire.ALERT_FAULT} <= levels
    faults = [e for e in events if e["event"] == "sensor" and e["active"]]
    assert faults and faults[0]["code"] == wire.SENSOR_TIMEOUT
    assert len(snaps) == 3 and all(len(s["distances_mm"]) == 150 for s in snaps)
    assert any(s["distance_mm"] == wire.SENSOR_TIMEOUT for s in samples)
    # the footer summarises what the records hold
    assert footer["steps"] == samples[-1]["steps"] and not footer["recovered"]
    assert footer["max_cadence"] == max(s["cadence"] for s in samples)
    assert footer["min_distance_mm"] == min(s["distance_mm"] for s in samples
                                            if s["distance_mm"] >= 0)
    assert footer["alerts"]["warning"] == sum(
        1 for e in events if e["event"] == "alert" and e["level"] == wire.ALERT_WARNING)
    assert footer["faults"] == len(faults)
    times = [s["t_ms"] for s in samples]
    assert times == sorted(times) and times[-1] - times[0] == pytest.approx(359_000, abs=20)


@pytest.mark.micropython
def test_device_code_still_writes_the_golden_bytes(tmp_path):
    import make_golden_session

    fresh = make_golden_session.make(tmp_path / "golden.bin")
    assert fresh.read_bytes() == GOLDEN.read_bytes(), (
        "the device encoder no longer writes the committed golden session: if the format "
        "changed on purpose, bump wire.LOG_FORMAT_VERSION and rerun tools/make_golden_session.py")


def _damaged_copy(tmp_path):
    data = bytearray(GOLDEN.read_bytes())
    frames = sorted({r["offset"] for r in logdecode.decode(bytes(data))[0]})
    hit = frames[10]
    data[hit + 4] ^= 0x10  # one damaged record in the middle
    path = tmp_path / "damaged.rrl"
    path.write_bytes(bytes(data[:-7]))  # and a torn tail (the footer cut short)
    return path, hit


def test_damaged_file_exits_1_with_one_line_and_keeps_every_good_record(tmp_path, capsys):
    path, hit = _damaged_copy(tmp_path)
    good, _ = logdecode.decode(GOLDEN.read_bytes())
    expected = [r for r in good if r["offset"] != hit and r["kind"] != "footer"]
    status, out, err = _run(capsys, "logs", "decode", str(path), "--json")
    assert status == 1
    assert err.count("\n") == 1 and err.startswith("retrorun: ") and "Traceback" not in err
    assert "damaged" in err and "torn tail" in err
    doc = json.loads(out)
    assert doc["records"] == expected
    assert {p["problem"] for p in doc["problems"]} == {"damaged", "torn_tail"}
    status, out, err = _run(capsys, "logs", "decode", str(path))
    assert status == 1 and err.count("\n") == 1
    assert out.count("\n") == len(expected)
    status, out, err = _run(capsys, "logs", "check", str(path), "--json")
    report = json.loads(out)
    assert status == 1 and not report["ok"] and not report["complete"]
    assert report["damaged"][0]["offset"] == hit
    assert report["torn_tail"]["length"] == wire.LOG_FOOTER_SIZE + wire.LOG_FRAME_OVERHEAD - 7
    assert report["records"] == len(expected)


def test_check_reports_a_good_file_and_missing_files_fail_cleanly(tmp_path, capsys):
    status, out, _ = _run(capsys, "logs", "check", str(GOLDEN), "--json")
    report = json.loads(out)
    assert status == 0 and report["ok"] and report["complete"] and report["damaged"] == []
    assert report["by_kind"]["sample"] == 360
    status, out, err = _run(capsys, "logs", "check", str(GOLDEN))
    assert status == 0 and "no damage" in out
    status, out, err = _run(capsys, "logs", "decode", str(tmp_path / "nope.rrl"))
    assert status == 1 and err.count("\n") == 1 and "no such file" in err
    garbage = tmp_path / "garbage.rrl"
    garbage.write_bytes(bytes(range(256)) * 3)
    status, out, err = _run(capsys, "logs", "check", str(garbage), "--json")
    assert status == 1 and json.loads(out)["records"] == 0 and err.count("\n") == 1


@pytest.mark.micropython
def test_bench_logs_density_within_budget(capsys):
    status, out, _ = _run(capsys, "bench", "logs", "--json", "--seconds", "1200")
    result = json.loads(out)
    assert status == 0
    assert result["bytes_per_hour"] <= 40000
    assert result["run"]["records"]["sample"] == 1200 and not result["run"]["damaged"]
    assert result["encode_cost"]["sample"]["heap_bytes"] == 0
    assert result["encode_cost"]["sample"]["fuel"] > 0
    assert result["encode_cost"]["header"]["heap_bytes"] > 0  # the probe does see allocations
    assert result["api_read"]["payload_per_wire"] >= 0.9


def test_salvage_keeps_exactly_the_good_frames(tmp_path):
    from retrorun.sessions import logs

    path, hit = _damaged_copy(tmp_path)
    clean = logs.salvage(path.read_bytes())
    records, problems = logdecode.decode(clean)
    good, _ = logdecode.decode(GOLDEN.read_bytes())
    expected = [r for r in good if r["offset"] != hit and r["kind"] != "footer"]
    assert problems == []
    strip = [{k: v for k, v in r.items() if k != "offset"} for r in records]
    assert strip == [{k: v for k, v in r.items() if k != "offset"} for r in expected]
