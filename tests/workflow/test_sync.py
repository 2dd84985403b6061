"""Sync through the device's own API code running in real MicroPython."""

import random
import shutil

import pytest
from session_factory import make_session

from retrorun.errors import RetrorunError
from retrorun.link.local_transport import MicroPythonTransport
from retrorun.sessions import logdecode
from retrorun.sessions.store import Store
from retrorun.sessions.sync import pull_sessions


@pytest.fixture(scope="module")
def device_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("device")
    for i in range(3):
        make_session(root, seconds=60 + 30 * i, start_unix=1_764_000_000 + 3600 * i)
    return root


@pytest.fixture
def device(tmp_path, device_template):
    root = tmp_path / "device"
    shutil.copytree(device_template, root)
    return root


def _device_files(root):
    return {int(p.name[:6]): p.read_bytes() for p in sorted((root / "sessions").glob("*.rrl"))}


def test_sync_pulls_every_session_byte_exact_and_marks_synced(device, tmp_path):
    files = _device_files(device)
    transport = MicroPythonTransport(device)
    with Store(tmp_path / "s.sqlite3") as store:
        result = pull_sessions(transport, store, chunk_size=1024)
        assert len(result.stored) == 3 and result.problems == {}
        for row in store.sessions():
            assert store.raw(row.key) == files[row.session_id]
        assert sorted(p.name for p in (device / "sessions").glob("*.syn")) == [
            "000001.syn", "000002.syn", "000003.syn"]
        # payload / bytes the device printed for read(): the escaped binary read is efficient
        assert result.payload_bytes / transport.read_wire_bytes > 0.95
        again = pull_sessions(transport, store)
        assert again.stored == [] and len(store.sessions()) == 3


def test_status_reports_unsynced(device):
    transport = MicroPythonTransport(device)
    assert transport.status()["unsynced"] == 3


class FlakyTransport(MicroPythonTransport):
    """Drops the link (or resets the board) at one random call."""

    def __init__(self, fs_dir, rng, mpy):
        super().__init__(fs_dir, mpy=mpy)
        self.rng = rng
        self.calls_left = rng.randint(1, 40)

    def _run(self, code):
        self.calls_left -= 1
        if self.calls_left == 0:
            if self.rng.random() < 0.5:
                raise RetrorunError("lost the device (simulated cable pull)")
            out = super()._run(code)  # the board acted, then reset before the answer arrived
            raise RetrorunError("the board reset (simulated) " + str(len(out)))
        return super()._run(code)


@pytest.mark.slow
def test_interrupted_sync_50_runs_every_session_exactly_once(device_template, tmp_path, mpy):
    for run in range(50):
        rng = random.Random(run)
        root = tmp_path / f"dev{run}"
        shutil.copytree(device_template, root)
        files = _device_files(root)
        with Store(tmp_path / f"s{run}.sqlite3") as store:
            for _attempt in range(20):
                try:
                    pull_sessions(FlakyTransport(root, rng, mpy), store, chunk_size=512)
                    break
                except RetrorunError:
                    continue
            final = pull_sessions(MicroPythonTransport(root, mpy=mpy), store, chunk_size=512)
            assert final.stored == [] or len(store.sessions()) == 3
            rows = store.sessions()
            assert sorted(r.session_id for r in rows) == [1, 2, 3], f"run {run}"
            for row in rows:
                raw = store.raw(row.key)
                assert raw == files[row.session_id], f"run {run} session {row.session_id}"
                records, problems = logdecode.decode(raw)
                assert problems == []
                n = store.db.execute("SELECT COUNT(*) FROM samples WHERE session=?",
                                     (row.key,)).fetchone()[0]
                assert n == sum(1 for r in records if r["kind"] == "sample")
            assert store.db.execute("SELECT COUNT(*) FROM partials").fetchone()[0] == 0
            assert len(list((root / "sessions").glob("*.syn"))) == 3


def test_ctrl_c_says_what_was_kept_and_the_next_sync_goes_on_from_there(device, tmp_path):
    files = _device_files(device)

    class CtrlCAtTheThirdChunkOfSessionTwo(MicroPythonTransport):
        reads = 0

        def read(self, session, offset, size):
            if session == 2:
                self.reads += 1
                if self.reads == 3:
                    raise KeyboardInterrupt
            return super().read(session, offset, size)

    from retrorun.sessions.sync import SyncInterrupted

    with Store(tmp_path / "s.sqlite3") as store:
        with pytest.raises(SyncInterrupted) as stopped:
            pull_sessions(CtrlCAtTheThirdChunkOfSessionTwo(device), store, chunk_size=256)
        # two chunks of 256 bytes of session 2 arrived before the Ctrl-C
        assert str(stopped.value) == (
            f"interrupted: stored 1 session; session 2: 512 of {len(files[2]):,} bytes kept; run "
            "retrorun sync again to resume (nothing is fetched twice)")
        assert stopped.value.exit_status == 130
        again = pull_sessions(MicroPythonTransport(device), store, chunk_size=256)
        assert again.resumed_bytes == 512 and len(again.stored) == 2
        assert {row.session_id: store.raw(row.key) for row in store.sessions()} == files
