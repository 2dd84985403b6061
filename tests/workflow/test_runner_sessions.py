"""Sessions as a runner keeps them (issue 16, point 4): delete / rename / note, sync leaving a
deleted session on the device, trends by ISO week, read-only commands that never create a
store, export to stdout, CSV with UTC times and separate no-target / fault columns."""

from __future__ import annotations

import csv
import io
import json

import pytest
from session_factory import make_session

import retrorun.cli.commands.sync
from retrofw.store import SessionWriter
from retrorun.cli.main import main
from retrorun.link.local_transport import MicroPythonTransport
from retrorun.sessions import logdecode
from retrorun.sessions.store import Store

# hand-worked: 1_764_000_000 s after the Unix epoch is Monday 2025-11-24 16:00:00 UTC (ISO week
# 48); + 100_000 s is Tuesday 19:46:40 (week 48); 1_766_000_000 is Wednesday 2025-12-17 (week 51)
STARTS = (1_764_000_000, 1_764_100_000, 1_766_000_000)


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        for sid, start in enumerate(STARTS, 1):
            folder = tmp_path / f"d{sid}"
            folder.mkdir()
            data = make_session(folder, start_unix=start).read_bytes()
            store.commit_session("dev1", sid, data, *logdecode.decode(data))
    return str(path)


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_rename_and_note_keep_the_key(store_path, capsys):
    assert main(["sessions", "rename", "2", "park loop", "--store", store_path]) == 0
    assert main(["sessions", "--store", store_path, "note", "park loop", "windy, knee ok"]) == 0
    capsys.readouterr()
    listed = _json(capsys, ["sessions", "--json", "--store", store_path])["sessions"]
    assert [(s["id"], s["name"], s["note"]) for s in listed] == [
        ("dev1/000001", "dev1/000001", None), ("dev1/000002", "park loop", "windy, knee ok"),
        ("dev1/000003", "dev1/000003", None)]
    report = _json(capsys, ["report", "park loop", "--json", "--store", store_path])
    assert (report["session"], report["label"], report["note"]) == (
        "dev1/000002", "park loop", "windy, knee ok")


@pytest.mark.parametrize("name", ["7", "last"])
def test_a_name_that_reads_as_a_session_number_is_refused(store_path, capsys, name):
    assert main(["sessions", "rename", "1", name, "--store", store_path]) == 1
    assert capsys.readouterr().err == (f"retrorun: '{name}' would read as a session number; pick "
                                       "a name with a letter in it\n")


def test_delete_asks_unless_yes(store_path, capsys):
    assert main(["sessions", "delete", "3", "--store", store_path]) == 1  # stdin is no terminal
    assert capsys.readouterr().err == (f"retrorun: delete session dev1/000003 from {store_path} "
                                       "(sync will not copy it again): confirm with --yes\n")
    with Store(store_path) as store:
        assert len(store.sessions()) == 3
    assert main(["sessions", "delete", "3", "1", "--yes", "--store", store_path]) == 0
    with Store(store_path) as store:
        assert [r.key for r in store.sessions()] == ["dev1/000002"]
        assert store.db.execute("SELECT COUNT(*) FROM samples WHERE session != "
                                "'dev1/000002'").fetchone()[0] == 0


def test_sync_does_not_bring_back_a_deleted_session(tmp_path, capsys, monkeypatch):
    device = tmp_path / "device"
    device.mkdir()
    original = make_session(device, seconds=20).read_bytes()
    monkeypatch.setattr(retrorun.cli.commands.sync, "open_transport",
                        lambda args: MicroPythonTransport(device))
    store = str(tmp_path / "s.sqlite3")
    first = _json(capsys, ["sync", "--json", "--store", store])
    assert first["stored"] == [f"{first['device']}/000001"]
    assert main(["sessions", "delete", "last", "--yes", "--store", store]) == 0
    capsys.readouterr()
    again = _json(capsys, ["sync", "--json", "--store", store])
    assert again["stored"] == [] and again["deleted_in_store"] == first["stored"]
    assert (device / "sessions" / "000001.rrl").read_bytes() == original  # still on the device
    restored = _json(capsys, ["sync", "--json", "--restore-deleted", "--store", store])
    assert restored["stored"] == first["stored"]
    with Store(store) as s:
        assert s.raw(first["stored"][0]) == original


def test_a_new_run_that_reuses_a_deleted_id_is_synced(tmp_path, capsys, monkeypatch):
    """After the board's files were erased, session ids start again at 1: a new run with the
    id of a deleted one is a new run, not the deleted one."""
    device = tmp_path / "device"
    device.mkdir()
    make_session(device, seconds=20)
    monkeypatch.setattr(retrorun.cli.commands.sync, "open_transport",
                        lambda args: MicroPythonTransport(device))
    store = str(tmp_path / "s.sqlite3")
    key = _json(capsys, ["sync", "--json", "--store", store])["stored"][0]
    assert main(["sessions", "delete", key, "--yes", "--store", store]) == 0
    for path in (device / "sessions").iterdir():
        path.unlink()  # the board's filesystem erased (e.g. re-flashed)
    (device / "sessions").rmdir()
    new = make_session(device, seconds=30).read_bytes()
    capsys.readouterr()
    assert _json(capsys, ["sync", "--json", "--store", store])["stored"] == [key]
    with Store(store) as s:
        assert s.raw(key) == new


def test_trends_by_iso_week(store_path, capsys, tmp_path):
    png = tmp_path / "trends.png"
    doc = _json(capsys, ["trends", "--json", "--plot", str(png), "--store", store_path])
    assert [(w["week"], w["monday"], w["sessions"]) for w in doc["weeks"]] == [
        ("2025-W48", "2025-11-24", 2), ("2025-W49", "2025-12-01", 0),
        ("2025-W50", "2025-12-08", 0), ("2025-W51", "2025-12-15", 1)]
    w48 = doc["weeks"][0]
    # each factory run: 120 s, int(119 * 170 / 60) = 337 steps, 170 spm once moving, alert
    # entries notice, warning, stop, warning, notice on the approach and fault at 90 s
    assert (w48["duration_s"], w48["steps"], w48["mean_cadence_spm"]) == (240, 674, 170)
    assert (w48["alerts"], w48["alerts_per_session"]) == (12, 6)
    assert doc["weeks"][1]["alerts_per_session"] is None
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["trends", "--store", store_path]) == 0
    out = capsys.readouterr().out
    assert "2025-W48" in out and "0:04:00" in out


@pytest.mark.parametrize("command", [["sessions"], ["report", "last"], ["trends"],
                                     ["export", "last", "--format", "csv", "-o", "x.csv"],
                                     ["sessions", "note", "1", "x"]])
def test_read_only_commands_never_create_a_store(tmp_path, capsys, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "typo.sqlite3"
    assert main([*command, "--store", str(missing)]) == 1
    assert capsys.readouterr().err == (f"retrorun: no session store at {missing}: check the "
                                       "--store path ('retrorun sync' makes a store)\n")
    assert not missing.exists() and not (tmp_path / "x.csv").exists()


def test_export_to_stdout(store_path, capsysbinary):
    assert main(["export", "1", "--format", "fit", "-o", "-", "--store", store_path]) == 0
    fit = capsysbinary.readouterr().out
    # FIT file header (FIT protocol): header size 14, then ".FIT" at bytes 8..11
    assert fit[0] == 14 and fit[8:12] == b".FIT"
    assert main(["export", "1", "--format", "csv", "-o", "-", "--store", store_path]) == 0
    rows = list(csv.DictReader(io.StringIO(capsysbinary.readouterr().out.decode())))
    assert len(rows) == 120 and rows[0]["time_utc"] == "2025-11-24T16:00:00.000Z"
    assert rows[61]["time_utc"] == "2025-11-24T16:01:01.000Z" and rows[61]["t_s"] == "61.0"


def test_csv_tells_nothing_behind_from_a_sensor_fault(tmp_path):
    """docs/log-format.md: a distance of -1 is "no reading" (the sensor sees nothing), -2..-7
    are sensor faults (-4: stuck echo line)."""
    root = tmp_path / "dev"
    root.mkdir()
    writer = SessionWriter(str(root), now_ms=0, sample_period_ms=1000, board="b",
                           start_unix=1_764_000_000, free_kb=lambda: 4000)
    for t_ms, mm in ((0, 3000), (1000, -1), (2000, -4), (3000, 2500)):
        writer.sample(t_ms, mm, 0, 0, 0, 0)
    writer.close(4000)
    data = (root / "sessions" / f"{writer.session_id:06d}.rrl").read_bytes()
    with Store(tmp_path / "s.sqlite3") as store:
        store.commit_session("dev1", 1, data, *logdecode.decode(data))
    out = tmp_path / "s.csv"
    assert main(["export", "1", "--format", "csv", "-o", str(out), "--store",
                 str(tmp_path / "s.sqlite3")]) == 0
    rows = [(r["t_s"], r["time_utc"], r["distance_m"], r["nothing_behind"], r["sensor_fault"])
            for r in csv.DictReader(out.open())]
    assert rows == [("0.0", "2025-11-24T16:00:00.000Z", "3.0", "0", ""),
                    ("1.0", "2025-11-24T16:00:01.000Z", "", "1", ""),
                    ("2.0", "2025-11-24T16:00:02.000Z", "", "0", "stuck"),
                    ("3.0", "2025-11-24T16:00:03.000Z", "2.5", "0", "")]
