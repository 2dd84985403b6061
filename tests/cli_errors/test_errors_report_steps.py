"""`retrorun report --plot` with a file type matplotlib cannot write, and `retrorun steps eval`
with ground truth of the wrong JSON type."""

from __future__ import annotations

import gzip
import json

import pytest
from session_factory import make_session

from retrorun.cli.main import main
from retrorun.sessions import logdecode
from retrorun.sessions.store import Store


@pytest.fixture
def store(work):
    (work / "device").mkdir()
    data = make_session(work / "device", seconds=30).read_bytes()
    records, problems = logdecode.decode(data)
    with Store(work / "s.sqlite3") as s:
        s.commit_session("dev1", 1, data, records, problems)
    return "s.sqlite3"


def test_plot_of_unknown_type(fails, work, store):
    err = fails(["report", "last", "--store", store, "--plot", "plot.txt"])
    assert err.startswith("retrorun: cannot write a plot as '.txt' (plot.txt); name a .png file")
    assert not (work / "plot.txt").exists()


def test_plot_in_missing_folder(fails, store):
    err = fails(["report", "last", "--store", store, "--plot", "no/such/p.png"])
    assert err == ("retrorun: cannot write the plot to no/such/p.png (No such file or "
                   "directory); give a path in a folder you can write")


def test_plot_without_suffix_reports_the_file_written(work, store, capsys):
    assert main(["report", "last", "--store", store, "--plot", "myplot", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plot"] == "myplot.png"
    assert (work / "myplot.png").stat().st_size > 1000


@pytest.mark.parametrize("times", [5, "0.5 1.0", ["a"], {"a": 1}])
def test_steps_eval_step_times_of_wrong_type(fails, work, times):
    folder = work / "recs"
    folder.mkdir()
    with gzip.open(folder / "a.csv.gz", "wt") as handle:
        handle.write("t,ax,ay,az\n0,0,0,9.8\n0.02,0,0,9.8\n0.04,0,0,9.8\n")
    (folder / "a.json").write_text(json.dumps({"steps": 3, "step_times": times}))
    err = fails(["steps", "eval", "recs", "--runtime", "cpython"])
    assert err == ("retrorun: recs/a.json: 'step_times' must be a list of times in seconds; fix "
                   "it or leave it out (see docs/steps.md)")


def test_export_to_a_folder(fails, work, store):
    (work / "folder").mkdir()
    err = fails(["export", "last", "--format", "csv", "-o", "folder", "--store", store])
    assert err == ("retrorun: cannot write folder (Is a directory); give -o a file path in a "
                   "folder you can write")


def _recording(work, rows: str, meta: dict) -> str:
    folder = work / "recs"
    folder.mkdir(exist_ok=True)
    with gzip.open(folder / "a.csv.gz", "wt") as handle:
        handle.write("t,ax,ay,az\n" + rows)
    (folder / "a.json").write_text(json.dumps(meta))
    return "recs"


@pytest.mark.parametrize("steps", [1e400, -3, 2.5])
def test_steps_eval_truth_not_a_count(fails, work, steps):
    folder = _recording(work, "0,0,0,9.8\n0.02,0,0,9.8\n", {"steps": steps})
    err = fails(["steps", "eval", folder, "--runtime", "cpython"])
    assert err.startswith("retrorun: recs/a.json: ")
    assert ("give the counted steps as a whole number >= 0" in err
            or "each NAME.csv.gz needs a NAME.json with an integer 'steps'" in err)


@pytest.mark.parametrize("rows, problem", [
    ("0,nan,0,9.8\n0.02,0,0,9.8\n", "line 2 holds a value that is not a finite number"),
    ("0,0,0,9.8\n0.02,inf,0,9.8\n", "line 3 holds a value that is not a finite number"),
    ("0.04,0,0,9.8\n0.02,0,0,9.8\n", "time goes backwards at line 3"),
])
def test_steps_eval_bad_samples(fails, work, rows, problem):
    folder = _recording(work, rows, {"steps": 1})
    err = fails(["steps", "eval", folder, "--runtime", "cpython"])
    assert err == (f"retrorun: recs/a.csv.gz: not a readable recording ({problem}); see "
                   "docs/steps.md for the format")


def test_demo_refuses_a_plot_file_type_before_running(capsys, tmp_path):
    import time

    from retrorun.cli.main import main

    started = time.monotonic()
    assert main(["demo", "--plot", str(tmp_path / "x.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("retrorun: cannot write a plot as '.txt'") and err.count("\n") == 1
    assert time.monotonic() - started < 5  # refused before the virtual board starts
