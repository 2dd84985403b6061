"""Output that reads well (issue 16, point 3): whole keys at 80 columns, no wrapping when
piped, h:mm:ss, logs check on files that are not session logs, plot legends from the real
sample period, every board-profile problem with what to do, "did you mean", progress bars only
at a terminal, and `retrorun reset` asking before it ends a recording."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from session_factory import make_session

import retrorun.cli.commands.reset
import retrorun.cli.commands.sync
from retrofw import settings
from retrorun.cli import output
from retrorun.cli.main import main
from retrorun.link.local_transport import MicroPythonTransport
from retrorun.paths import boards_dir
from retrorun.sessions import logdecode
from retrorun.sessions.plot import distance_label
from retrorun.sessions.store import Store


@pytest.fixture
def terminal(monkeypatch):
    """stdout as an 80-column terminal."""
    buf = io.StringIO()
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(output, "console", Console(width=80, file=buf, force_terminal=True,
                                                   color_system=None, highlight=False))
    return buf


def test_config_keys_at_80_columns_shows_every_key_whole(terminal):
    assert main(["config", "keys"]) == 0
    lines = terminal.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    first_cells = {line.split("│")[0].strip() for line in lines if "│" in line}
    assert set(settings.keys()) <= first_cells  # each key whole in its cell


def test_piped_output_is_not_wrapped(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["config", "keys"]) == 0
    out = capsys.readouterr().out
    for d in settings.describe():
        assert any(d["key"] in line and d["description"] in line for line in out.splitlines())


@pytest.mark.parametrize("seconds, shown", [(0, "0:00:00"), (59.4, "0:00:59"), (1194, "0:19:54"),
                                            (3600, "1:00:00"), (36_061, "10:01:01")])
def test_durations_are_h_mm_ss(seconds, shown):
    assert output.duration(seconds) == shown


def test_report_and_sessions_print_h_mm_ss(tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    data = make_session(folder).read_bytes()
    with Store(tmp_path / "s.sqlite3") as store:
        store.commit_session("dev1", 1, data, *logdecode.decode(data))
    for command in (["sessions"], ["report", "1"]):
        assert main([*command, "--store", str(tmp_path / "s.sqlite3")]) == 0
        out = capsys.readouterr().out
        assert "0:02:00" in out and " s " not in out.replace("spm", "")
    assert main(["report", "1", "--store", str(tmp_path / "s.sqlite3")]) == 0
    assert "no_ack at 0:01:30" in capsys.readouterr().out


@pytest.mark.parametrize("name, content, why", [
    ("empty.rrl", b"", "is empty: not a retrorun session log"),
    ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "is not a retrorun session log (no valid "
     "log frame in its 208 bytes; a session starts with a header frame, bytes 0xA5 0x01)"),
    ("noise.bin", bytes((i * 89 + 7) % 251 for i in range(4000)), "is not a retrorun session "
     "log (no valid log frame in its 4000 bytes; a session starts with a header frame, bytes "
     "0xA5 0x01)"),
])
@pytest.mark.parametrize("action", ["check", "decode"])
def test_logs_on_a_file_that_is_not_a_session_log(work, capsys, name, content, why,
                                                   action):
    (work / name).write_bytes(content)
    assert main(["logs", action, name]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"retrorun: {name} {why}; give a session .rrl file (the device "
                            "keeps them in /sessions)\n")
    assert captured.out == ""  # no "torn tail" or "no damage" for what is no log
    assert main(["logs", action, name, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["session_log"] is False


@pytest.mark.parametrize("period_ms, label", [(1000, "distance (1 s samples)"),
                                              (500, "distance (0.5 s samples)"),
                                              (2000, "distance (2 s samples)")])
def test_plot_legend_from_the_sample_period(period_ms, label):
    assert distance_label(period_ms) == label


def test_plot_uses_the_sessions_period(tmp_path, monkeypatch):
    import matplotlib.axes

    from retrofw.store import SessionWriter
    from retrorun.sessions.plot import plot_session

    writer = SessionWriter(str(tmp_path), now_ms=0, sample_period_ms=500, board="b",
                           start_unix=1_764_000_000, free_kb=lambda: 4000)
    for i in range(20):
        writer.sample(i * 500, 3000, 0, i, 160, 0)
    writer.close(10_000)
    data = (tmp_path / "sessions" / f"{writer.session_id:06d}.rrl").read_bytes()
    labels = []
    real = matplotlib.axes.Axes.legend
    monkeypatch.setattr(matplotlib.axes.Axes, "legend",
                        lambda ax, h, lab, **kw: (labels.extend(lab), real(ax, h, lab, **kw))[1])
    with Store(tmp_path / "s.sqlite3") as store:
        store.commit_session("dev1", 1, data, *logdecode.decode(data))
        plot_session(store, "dev1/000001", tmp_path / "p.png")
    assert labels[0] == "distance (0.5 s samples)"


def _profile(work, **pins) -> str:
    data = json.loads((boards_dir() / "esp32-devkitc.json").read_text())
    for part, pin in pins.items():
        data[part]["pin"] = pin
    (work / "p.json").write_text(json.dumps(data))
    return "p.json"


def test_boards_check_lists_every_problem_with_what_to_do(work, capsys):
    # ESP32 datasheet: GPIO34-39 are input only; GPIO6-11 are wired to the SPI flash
    assert main(["boards", "check", _profile(work, haptic=34, led=6)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "error: esp32-devkitc: haptic.pin: GPIO34 is input-only on esp32 and cannot drive pin "
        "-> move it to a GPIO that can drive an output",
        "error: esp32-devkitc: led.pin: GPIO6 is wired to the SPI flash or PSRAM on esp32; "
        "pick another pin"]
    assert captured.err == ("retrorun: board profile p.json is invalid: esp32-devkitc: "
                            "haptic.pin: GPIO34 is input-only on esp32 and cannot drive pin "
                            "(and 1 more, listed above)\n")
    assert main(["boards", "check", _profile(work, haptic=34, led=6), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and [p["level"] for p in doc["problems"]] == ["error", "error"]


@pytest.mark.parametrize("argv, line", [
    (["sesions"], "retrorun: unknown command 'sesions'; did you mean 'sessions'? (see "
                  "'retrorun --help')"),
    (["config", "gte"], "retrorun: unknown action 'gte' for 'retrorun config'; did you mean "
                        "'get'? (see 'retrorun config --help')"),
    (["export", "1", "--format", "csvv", "-o", "x"], "retrorun: invalid --format 'csvv'; did "
     "you mean 'csv'? (see 'retrorun export --help')"),
    (["config", "set", "--port", "/dev/ttyNOPE", "alert.stop=1.5"], "retrorun: unknown setting "
     "'alert.stop'; did you mean 'alert.stop_m'? ('retrorun config keys' lists them)"),
    (["config", "get", "alert.fault_timeout", "--port", "/dev/ttyNOPE"], "retrorun: unknown "
     "setting 'alert.fault_timeout'; did you mean 'alert.fault_timeout_ms'? ('retrorun config "
     "keys' lists them)"),
])
def test_did_you_mean(fails, argv, line):
    assert fails(argv) == line


@pytest.fixture
def device(work, monkeypatch):
    root = work / "device"
    root.mkdir()
    make_session(root, seconds=20)
    monkeypatch.setattr(retrorun.cli.commands.sync, "open_transport",
                        lambda args: MicroPythonTransport(root))
    return root


def test_sync_progress_bar_at_a_terminal(device, terminal, work):
    assert main(["sync", "--store", str(work / "s.sqlite3")]) == 0
    shown = terminal.getvalue()
    assert "session 1" in shown and "100%" in shown and "stored " in shown


def test_no_progress_when_piped_or_json(device, capsys, work):
    assert main(["sync", "--store", str(work / "s.sqlite3")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stored ") and out.count("\n") == 1 and "%" not in out


