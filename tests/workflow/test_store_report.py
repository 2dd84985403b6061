"""Store, report, plot and export on a session written by the device code."""

import csv
import json
import sqlite3

import pytest

from retrorun.cli.main import main
from retrorun.errors import RetrorunError
from retrorun.sessions import logdecode
from retrorun.sessions.report import build_report
from retrorun.sessions.store import SCHEMA_VERSION, Store


@pytest.fixture
def store(tmp_path, session_file):
    data = session_file.read_bytes()
    records, problems = logdecode.decode(data)
    assert problems == []
    with Store(tmp_path / "s.sqlite3") as s:
        s.commit_session("dev1", 1, data, records, problems)
        yield s


def test_commit_is_idempotent_and_keeps_raw_bytes(store, session_file):
    data = session_file.read_bytes()
    records, problems = logdecode.decode(data)
    store.commit_session("dev1", 1, data, records, problems)
    assert [r.key for r in store.sessions()] == ["dev1/000001"]
    assert store.raw("dev1/000001") == data
    n = store.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert n == sum(1 for r in records if r["kind"] == "sample") == 120


def test_schema_is_versioned(tmp_path):
    path = tmp_path / "x.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(RetrorunError, match="newer than this retrorun knows"):
        Store(path)


def test_not_a_store_is_refused(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(RetrorunError, match="not a retrorun store"):
        Store(bad)


def test_report_figures(store):
    report = build_report(store, "dev1/000001")
    assert report["duration_s"] == 120
    assert report["steps"] == int(119 * 170 / 60)
    assert report["cadence"]["max_spm"] == 170
    assert report["closest_approach_m"] == 0.9
    assert report["alerts"]["stop"] == 1 and report["alerts"]["fault"] == 1
    assert report["faults"][0]["fault"] == "no_ack" and report["faults"][0]["t_s"] == 90
    assert report["posture"]["mean_trunk_deg"] == 12.0
    # the approach closes at 0.5 m/s: at 1.2 m, about 2.4 s to contact (0.9 m floor)
    assert report["min_time_to_contact_s"] is not None
    assert 1.0 < report["min_time_to_contact_s"] < 4.0


def test_cli_sessions_report_plot_export(store, tmp_path, capsys):
    path = str(store.path)
    assert main(["sessions", "--store", path, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["sessions"]
    assert listed[0]["id"] == "dev1/000001" and listed[0]["steps"] > 0
    assert {"id", "start", "duration_s", "steps", "alerts"} <= set(listed[0])
    png = tmp_path / "plot.png"
    assert main(["report", "1", "--store", path, "--plot", str(png), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    out_csv = tmp_path / "s.csv"
    assert main(["export", "last", "--store", path, "--format", "csv", "-o", str(out_csv)]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 120 and rows[60]["alert"] == "stop"
    out_json = tmp_path / "s.json"
    assert main(["export", "last", "--store", path, "--format", "json", "-o", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["report"]["steps"] == report["steps"]


def test_fit_export_reads_back_with_fitdecode(store, tmp_path):
    fitdecode = pytest.importorskip("fitdecode")
    out = tmp_path / "s.fit"
    assert main(["export", "last", "--store", str(store.path), "--format", "fit",
                 "-o", str(out)]) == 0
    cadences = []
    obstacle = []
    with fitdecode.FitReader(str(out)) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                cadences.append(frame.get_value("cadence"))
                for field in frame.fields:
                    if field.name == "obstacle_distance" and field.value is not None:
                        obstacle.append(field.value)
    assert len(cadences) == 120 and cadences[-1] == 85  # 170 steps/min = 85 strides/min
    assert min(obstacle) == pytest.approx(0.9, abs=0.01)


def test_unknown_session_is_one_line_error(store, capsys):
    assert main(["report", "99", "--store", str(store.path)]) == 1
    assert "no session '99'" in capsys.readouterr().err
