"""End to end: `retrorun flash` (real esptool through its library API) against the virtual
board in ROM mode, over a loopback socket; the board's flash file must hold the image bytes.

Reproduce by hand:
    retrorun vboard --mode rom --listen socket --flash /tmp/flash.bin --port-file /tmp/port
    retrorun flash --port "$(cat /tmp/port)" --board esp32-devkitc --image IMAGE.bin
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from romfs_board import ROMFS_NAMES

from retrorun.provision import chips, flash

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("retrorun.devtools.vboard.board") is None,
                       reason="the virtual board (retrorun.devtools.vboard.board) is not there yet"),
]

PAYLOAD = bytes((i * 131 + 7) & 0xFF for i in range(20000))


def _retrorun(*args: str, timeout: float = 60, env: dict | None = None,
              stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retrorun", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=stdin,
                          env=None if env is None else {**os.environ, **env})


@pytest.fixture
def rom_board(tmp_path):
    """A virtual ESP32 in ROM mode: (port URL, flash file). Stopped with SIGTERM."""
    flash_file = tmp_path / "flash.bin"
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrorun", "vboard", "--mode", "rom", "--listen", "socket",
         "--flash", str(flash_file), "--port-file", str(port_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=5) if proc.poll() is not None else ("", "")
                pytest.fail(f"virtual board did not start: {out} {err}")
            time.sleep(0.05)
        yield port_file.read_text().strip(), flash_file
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_flash_writes_the_image_at_0x1000_and_refuses_an_s3_image(rom_board, tmp_path: Path):
    port, flash_file = rom_board
    assert port.startswith("socket://127.0.0.1:")
    image = flash.make_image(chips.CHIPS["esp32"], PAYLOAD)
    image_file = tmp_path / "ESP32_GENERIC-test.bin"
    image_file.write_bytes(image)

    done = _retrorun("flash", "--port", port, "--board", "esp32-devkitc", "--image",
                     str(image_file), "--json")
    assert done.returncode == 0, done.stderr
    assert '"verified": true' in done.stdout
    data = flash_file.read_bytes()
    assert data[0x1000:0x1000 + len(image)] == image
    assert data[:0x1000] == b"\xff" * 0x1000  # nothing before the bootloader offset

    s3_file = tmp_path / "ESP32_GENERIC_S3-test.bin"
    s3_file.write_bytes(flash.make_image(chips.CHIPS["esp32s3"], PAYLOAD))
    refused = _retrorun("flash", "--port", port, "--image", str(s3_file))
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("retrorun: ")
    assert "ESP32-S3" in refused.stderr and "is an ESP32" in refused.stderr
    assert flash_file.read_bytes() == data  # untouched

    again = flash.make_image(chips.CHIPS["esp32"], PAYLOAD[:5000][::-1])  # shorter: only
    # --erase clears what is left of the first image beyond the sectors this write erases
    image_file.write_bytes(again)
    erased = _retrorun("flash", "--port", port, "--board", "esp32-devkitc", "--image",
                       str(image_file), "--erase")
    assert erased.returncode == 0, erased.stderr
    data = flash_file.read_bytes()
    assert data[0x1000:0x1000 + len(again)] == again
    assert data[0x1000 + len(again):] == b"\xff" * (len(data) - 0x1000 - len(again))


def test_a_board_profile_for_another_chip_is_refused_after_detection(rom_board, tmp_path):
    port, flash_file = rom_board
    before = flash_file.read_bytes() if flash_file.exists() else None
    s3_file = tmp_path / "ESP32_GENERIC_S3-test.bin"
    s3_file.write_bytes(flash.make_image(chips.CHIPS["esp32s3"], PAYLOAD))
    refused = _retrorun("flash", "--port", port, "--board", "xiao-esp32s3", "--image",
                        str(s3_file))
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "is an ESP32, but board profile 'xiao-esp32s3' is for ESP32-S3" in refused.stderr
    after = flash_file.read_bytes() if flash_file.exists() else None
    assert after == before


def test_version_downloads_the_official_build_over_https_checks_it_and_flashes_it(
        rom_board, tmp_path, monkeypatch):
    """--version: HTTPS from a loopback server (its own CA), the build's checks, cache, flash."""
    import official_build as ob

    from retrorun.cli.main import main
    from retrorun.provision import firmware_fetch

    port, flash_file = rom_board
    image = ob.firmware("esp32", "v1.27.0")
    name = "ESP32_GENERIC-20251209-v1.27.0.bin"
    monkeypatch.setattr(firmware_fetch, "cache_dir", lambda: tmp_path / "cache")
    with ob.https_site(tmp_path / "site", {f"/resources/firmware/{name}": image}) as site:
        assert main(["flash", "--port", port, "--board", "esp32-devkitc", "--version",
                     "1.27.0", "--firmware-url", site.base, "--firmware-ca",
                     str(site.ca_file), "--json"]) == 0
        site.files[f"/resources/firmware/{name}"] = image[:-1] + bytes([image[-1] ^ 1])
        (tmp_path / "cache" / "firmware" / name).unlink()
        before = flash_file.read_bytes()
        refused = _retrorun("flash", "--port", port, "--board", "esp32-devkitc", "--version",
                            "1.27.0", "--firmware-url", site.base, "--firmware-ca",
                            str(site.ca_file), env={"XDG_CACHE_HOME": str(tmp_path / "x")})
    assert flash_file.read_bytes()[0x1000:0x1000 + len(image)] == image
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "SHA-256 mismatch in the app image" in refused.stderr
    assert flash_file.read_bytes() == before  # nothing written


def test_flash_adds_a_romfs_partition_to_the_table_and_no_romfs_keeps_it(rom_board,
                                                                          tmp_path: Path):
    """A whole firmware with MicroPython's stock 4 MB table at 0x8000 (0x7000 in the image),
    built with ROMFS (it names vfs.rom_ioctl, as a MicroPython image holds its names)."""
    from retrorun.provision import partition_table

    port, flash_file = rom_board
    stock = partition_table.MICROPYTHON_ESP32_4MB
    image = bytearray(flash.make_image(chips.CHIPS["esp32"], PAYLOAD[:3000]))
    image += b"\xff" * (0x7000 - len(image))
    image += partition_table.encode(stock) + b"\xff" * 0x400 + PAYLOAD[:4000]
    image += ROMFS_NAMES
    image_file = tmp_path / "ESP32_GENERIC-romfs-table.bin"
    image_file.write_bytes(image)

    kept = _retrorun("flash", "--port", port, "--board", "esp32-devkitc", "--image",
                     str(image_file), "--no-romfs", "--json")
    assert kept.returncode == 0, kept.stderr
    assert '"romfs": null' in kept.stdout
    data = flash_file.read_bytes()
    assert data[0x1000:0x1000 + len(image)] == image
    assert partition_table.read_table(data) == stock

    # a filesystem on the board: re-flashing the same table keeps it ...
    marker = b"littlefs superblock stand-in" + bytes(100)
    with open(flash_file, "r+b") as f:
        f.seek(0x200000)
        f.write(marker)
    again = _retrorun("flash", "--port", port, "--board", "esp32-devkitc", "--image",
                      str(image_file), "--no-romfs")
    assert again.returncode == 0, again.stderr
    assert "partition table changes" not in again.stdout
    assert flash_file.read_bytes()[0x200000:0x200000 + len(marker)] == marker

    # ... a new table would lose the files: without a terminal to ask, it refuses ...
    before = flash_file.read_bytes()
    refused = _retrorun("flash", "--port", port, "--board", "esp32-devkitc", "--image",
                        str(image_file))
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("retrorun: not flashing: the partition table changes, so "
                                     "the filesystem starts empty: the files on the board "
                                     "(sessions, settings, in 'vfs' at 0x200000) are lost, and "
                                     "stdin is not a terminal to ask; sync sessions first")
    assert "--yes" in refused.stderr
    assert flash_file.read_bytes() == before
    # ... and with --yes erases the first sector, so that MicroPython formats a fresh one
    done = _retrorun("flash", "--port", port, "--board", "esp32-devkitc", "--image",
                     str(image_file), "--yes")
    assert done.returncode == 0, done.stderr
    assert "The partition table changes: erasing the start of the filesystem partition " \
           "('vfs' at 0x200000)" in " ".join(done.stdout.split())
    assert flash_file.read_bytes()[0x200000:0x201000] == b"\xff" * 0x1000
    assert "romfs partition: 256 KB at 0x3C0000" in " ".join(done.stdout.split())
    data = flash_file.read_bytes()
    parts = partition_table.read_table(data)
    assert partition_table.find(parts, "romfs") == partition_table.Partition(
        "romfs", partition_table.TYPE_DATA, 0x06, 0x3C0000, 0x40000)
    assert partition_table.find(parts, "vfs").size == 0x1C0000
    assert data[0x1000:0x8000] == bytes(image[:0x7000])  # only the table changed
    assert data[0x9000:0x1000 + len(image)] == bytes(image[0x8000:])
    assert image_file.read_bytes() == image  # the file on disk is left alone


def _at_a_terminal(*args: str, answer: str) -> subprocess.CompletedProcess:
    """`retrorun flash` with a pseudo-terminal as stdin, `answer` typed ahead."""
    import pty

    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode() + b"\n")
        return _retrorun(*args, stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)


def test_flash_asks_before_erasing_the_boards_files_and_offers_to_sync(rom_board, tmp_path):
    from retrorun.provision import partition_table

    port, flash_file = rom_board
    with open(flash_file, "r+b") as f:  # a board that ran MicroPython: a table and files
        f.seek(partition_table.TABLE_OFFSET)
        f.write(partition_table.encode(partition_table.MICROPYTHON_ESP32_4MB))
        f.seek(0x200000)
        f.write(b"littlefs superblock stand-in")
    image_file = tmp_path / "ESP32_GENERIC-test.bin"
    image_file.write_bytes(flash.make_image(chips.CHIPS["esp32"], PAYLOAD[:4000]))
    before = flash_file.read_bytes()
    flash_args = ("flash", "--port", port, "--board", "esp32-devkitc", "--image",
                  str(image_file), "--erase")

    refused = _retrorun(*flash_args)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "not flashing: --erase erases the whole flash: the files on the board" in \
        refused.stderr and "--yes" in refused.stderr

    stopped = _at_a_terminal(*flash_args, answer="n")
    assert "Sync sessions first [s], erase and flash [y], or stop [N]?" in stopped.stderr
    assert stopped.returncode == 1
    assert "stopped before writing: nothing on the board changed" in stopped.stderr
    assert flash_file.read_bytes() == before

    # "s": the sync runs before anything is written; this board is in ROM mode, so no
    # MicroPython answers it and the flash stops there
    sync = _at_a_terminal(*flash_args, answer="s")
    assert "Syncing sessions from " + port + " first..." in sync.stdout
    assert sync.returncode == 1
    assert f"retrorun: cannot reach a MicroPython board on {port}" in sync.stderr
    assert flash_file.read_bytes() == before

    erased = _at_a_terminal(*flash_args, answer="y")
    assert erased.returncode == 0, erased.stderr
    data = flash_file.read_bytes()
    assert data[0x1000:0x1000 + len(image_file.read_bytes())] == image_file.read_bytes()
    assert data[0x8000:0x9000] == b"\xff" * 0x1000 and data[0x200000:0x201000] == b"\xff" * 0x1000
