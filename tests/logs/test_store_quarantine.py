"""Boot recovery never stops the boot (issue 14): what it cannot read or recover goes into
/sessions/quarantine/, a full flash gives up the reserve so the footer can still be written.
Run under CPython and real MicroPython (the device's littlefs raises the same errors)."""

import os
from pathlib import Path

import pytest
from logs_support import record_session

from retrofw import store
from retrorun.devtools.mpy import NO_GC_HEAP_KB
from retrorun.sessions import logdecode


def _damaged_store(root, session):
    """/sessions with a cut session (1), a folder named like one (99) and a foreign file (7)."""
    st = store.SessionStore(str(root))
    with open(st.path(1), "wb") as f:
        f.write(session[: len(session) - 40])
    os.mkdir(st.path(99))
    with open(os.path.join(st.path(99), "x"), "wb") as f:
        f.write(b"x")
    with open(st.path(7), "wb") as f:
        f.write(b"not a retrorun log at all\n" * 10)
    with open(st.dir + "/000007.syn", "wb"):
        pass
    return st


def _check_quarantined(root):
    sessions = os.path.join(str(root), "sessions")
    assert sorted(os.listdir(os.path.join(sessions, "quarantine"))) == ["000007.rrl",
                                                                       "000099.rrl"]
    st = store.SessionStore(str(root))
    assert st.ids() == [1], "only the real session is listed (and synced)"
    records, problems = logdecode.decode(Path(st.path(1)).read_bytes())
    assert problems == [] and records[-1]["kind"] == "footer" and records[-1]["recovered"]
    assert not os.path.exists(os.path.join(sessions, "000007.syn"))
    assert os.path.getsize(os.path.join(sessions, "reserve")) == 8 * 1024


def test_a_folder_or_foreign_file_named_like_a_session_is_quarantined(tmp_path):
    session = record_session(tmp_path / "src", seconds=40)
    st = _damaged_store(tmp_path / "dev", session)
    done = dict(st.recover_all())
    assert done[7] == -1 and done[99] == -1 and done[1] > 0
    _check_quarantined(tmp_path / "dev")
    assert st.recover_all() == [], "a second boot finds nothing left to do"


@pytest.mark.micropython
def test_quarantine_in_micropython(mpy, device_fs, tmp_path):
    session = record_session(tmp_path / "src", seconds=40)
    _damaged_store(device_fs, session)
    got = mpy.eval("from retrofw import store\nresult = store.SessionStore('/').recover_all()",
                   fs=device_fs, heap_kb=NO_GC_HEAP_KB)
    done = {sid: dropped for sid, dropped in got}
    assert done[7] == -1 and done[99] == -1 and done[1] > 0
    _check_quarantined(device_fs)


def test_a_full_flash_gives_up_the_reserve_so_the_footer_is_written(tmp_path, monkeypatch):
    session = record_session(tmp_path / "src", seconds=40)
    st = store.SessionStore(str(tmp_path / "dev"))
    st.keep_reserve()
    reserve = os.path.join(st.dir, "reserve")
    assert os.path.exists(reserve)
    with open(st.path(1), "wb") as f:
        f.write(session[: len(session) - 40])
    real_open = open

    def full_flash_open(path, mode="r", *args):  # ENOSPC for every write while the reserve is
        if ("a" in mode or "w" in mode) and os.path.exists(reserve):
            raise OSError(28, "ENOSPC")
        return real_open(path, mode, *args)

    monkeypatch.setattr(store, "open", full_flash_open, raising=False)
    done = st.recover_all()
    assert done and done[0][0] == 1 and done[0][1] > 0
    records, problems = logdecode.decode(real_open(st.path(1), "rb").read())
    assert problems == [] and records[-1]["kind"] == "footer" and records[-1]["recovered"]
    assert os.path.exists(reserve), "made again once recovery is done and there is room"


def test_a_flash_too_full_even_without_reserve_leaves_the_session_for_the_next_boot(
        tmp_path, monkeypatch):
    session = record_session(tmp_path / "src", seconds=40)
    st = store.SessionStore(str(tmp_path / "dev"))
    cut = session[: len(session) - 40]
    with open(st.path(1), "wb") as f:
        f.write(cut)

    def no_space(path, mode="r", *args):
        if "a" in mode or "w" in mode:
            raise OSError(28, "ENOSPC")
        return open(path, mode, *args)

    monkeypatch.setattr(store, "open", no_space, raising=False)
    assert st.recover_all() == [(1, 0)]
    assert Path(st.path(1)).read_bytes() == cut and st.ids() == [1]
    assert not [n for n in os.listdir(st.dir) if n.endswith(".tmp")]
