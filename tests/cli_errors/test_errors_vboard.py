"""`retrorun vboard` with folders, files and paths it cannot use."""

from __future__ import annotations


def test_fs_is_a_file(fails, work):
    (work / "afile").write_text("x")
    err = fails(["vboard", "--mode", "rom", "--fs", "afile"])
    assert err == ("retrorun: cannot use afile as the board's file system (File exists); give "
                   "--fs a folder you can write")


def test_fs_cannot_be_created(fails):
    err = fails(["vboard", "--mode", "rom", "--fs", "/proc/no-such/fs"])
    assert err.startswith("retrorun: cannot use /proc/no-such/fs as the board's file system")


def test_flash_is_a_folder(fails, work):
    (work / "folder").mkdir()
    err = fails(["vboard", "--mode", "rom", "--fs", "fs", "--flash", "folder"])
    assert err == ("retrorun: flash file folder is a folder; give --flash a file path (created "
                   "as 4 MB of 0xFF when missing)")


def test_flash_cannot_be_created(fails):
    err = fails(["vboard", "--mode", "rom", "--fs", "fs", "--flash", "/proc/no-such/flash.bin"])
    assert err == ("retrorun: cannot create flash file /proc/no-such/flash.bin (No such file or "
                   "directory); give --flash a path in a folder you can write")


def test_port_file_is_a_folder(fails, work):
    (work / "folder").mkdir()
    err = fails(["vboard", "--mode", "rom", "--fs", "fs", "--flash", "f.bin",
                 "--port-file", "folder"])
    assert err == ("retrorun: cannot write the port file folder (Is a directory); give "
                   "--port-file a file path in a folder you can write")
    assert not (work / "folder.tmp").exists()


def test_port_file_in_missing_folder(fails, work):
    err = fails(["vboard", "--mode", "rom", "--fs", "fs", "--flash", "f.bin",
                 "--port-file", "no/such/port.txt"])
    assert err.startswith("retrorun: cannot write the port file no/such/port.txt (No such file")


def test_scenario_is_a_folder(fails, work):
    (work / "folder").mkdir()
    err = fails(["vboard", "--fs", "fs", "--flash", "f.bin", "--scenario", "folder"])
    assert err == ("retrorun: cannot read scenario file folder (Is a directory); give the path "
                   "of a scenario .json file")


def test_scenario_is_binary(fails, garbage):
    err = fails(["vboard", "--fs", "fs", "--flash", "f.bin", "--scenario", garbage.name])
    assert "not a text file; a scenario is JSON" in err


def test_tcp_port_in_use(fails):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = fails(["vboard", "--mode", "rom", "--fs", "fs", "--flash", "f.bin",
                     "--tcp-port", str(port)])
    assert err.startswith("retrorun: cannot open a socket listener (")
    assert err.endswith("Address already in use); pass another --tcp-port (0: any free port)")
