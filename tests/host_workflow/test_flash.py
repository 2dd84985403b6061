"""retrorun.provision.flash without a board: image headers, chip checks, and the flashing sequence
driven against a fake esptool connection (the real esptool runs in test_flash_vboard.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import esptool.targets
import pytest
from esptool.bin_image import LoadFirmwareImage
from esptool.util import FatalError
from romfs_board import ROMFS_NAMES, STOCK_NAMES

from retrorun.cli.main import main
from retrorun.errors import RetrorunError
from retrorun.provision import chips, flash

PAYLOAD = bytes((i * 37 + 11) & 0xFF for i in range(3000))


def test_chip_table_matches_esptool():
    for chip in chips.CHIPS.values():
        cls = esptool.targets.CHIP_DEFS[chip.name]
        assert chip.image_chip_id == cls.IMAGE_CHIP_ID, chip.name
        assert chip.bootloader_offset == cls.BOOTLOADER_FLASH_OFFSET, chip.name
        assert chip.title == cls.CHIP_NAME, chip.name
        assert chips.chip_by_name(cls.CHIP_NAME) is chip


@pytest.mark.parametrize("name", ["esp32", "esp32s3", "esp32c3"])
def test_header_parsing_agrees_with_esptool(name):
    image = flash.make_image(chips.CHIPS[name], PAYLOAD, entry=0x40081234)
    ours = flash.parse_image_header(image)
    theirs = LoadFirmwareImage(name, image)  # esptool checks checksum and digest too
    assert ours.chip is chips.CHIPS[name]
    assert ours.chip_id == theirs.chip_id
    assert ours.entry == theirs.entrypoint == 0x40081234
    assert ours.segments == len(theirs.segments) == 1
    assert ours.flash_mode == theirs.flash_mode
    assert theirs.checksum == theirs.calculate_checksum()
    assert theirs.stored_digest == hashlib.sha256(image[:-32]).digest()
    assert not ours.is_app
    assert flash.parse_image_header(flash.make_image(chips.CHIPS[name], PAYLOAD, app=True)).is_app


def test_not_an_image_is_refused_with_a_reason():
    with pytest.raises(RetrorunError, match="magic byte 0xE9"):
        flash.parse_image_header(b":020000040000FA" + b"\x00" * 40, "fw.hex")
    with pytest.raises(RetrorunError, match="too short"):
        flash.parse_image_header(b"\xe9\x01", "tiny.bin")


def test_check_image_refuses_another_chip_app_images_and_unknown_chips():
    esp32, s3 = chips.CHIPS["esp32"], chips.CHIPS["esp32s3"]
    header = flash.parse_image_header(flash.make_image(s3, PAYLOAD))
    assert flash.check_image(header, "s3.bin", s3) is s3
    assert flash.check_image(header, "s3.bin", None) is s3
    with pytest.raises(RetrorunError) as exc:
        flash.check_image(header, "s3.bin", esp32, "board 'esp32-devkitc'")
    message = str(exc.value)
    assert "ESP32-S3" in message and "board 'esp32-devkitc'" in message
    assert "ESP32_GENERIC" in message and "\n" not in message
    app = flash.parse_image_header(flash.make_image(esp32, PAYLOAD, app=True))
    with pytest.raises(RetrorunError, match="application image"):
        flash.check_image(app, "micropython.bin", esp32)
    unknown = bytearray(flash.make_image(esp32, PAYLOAD))
    unknown[12] = 0x77
    with pytest.raises(RetrorunError, match="chip ID 119"):
        flash.check_image(flash.parse_image_header(bytes(unknown)), "x.bin", None)


class FakeEsp:
    """Stands in for the ESPLoader esptool's detect_chip returns."""

    def __init__(self, chip_name: str, flash_bytes: int = 4 << 20):
        self.CHIP_NAME = chip_name
        self.flash = bytearray(b"\x5a" * flash_bytes)
        self.calls: list[str] = []

        class Port:
            baudrate = 115200

        self._port = Port()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.calls.append("close")

    def change_baud(self, baud):
        self.calls.append(f"baud {baud}")
        self._port.baudrate = baud

    def read_flash(self, offset, length):
        self.calls.append(f"read {offset:#x} {length}")
        return bytes(self.flash[offset:offset + length])

    def erase_region(self, offset, size):
        self.calls.append(f"erase {offset:#x} {size}")
        self.flash[offset:offset + size] = b"\xff" * size


@pytest.fixture
def fake_esptool(monkeypatch):
    state = {"esp": FakeEsp("ESP32")}

    def detect_chip(port, **kw):
        state["esp"].calls.append(f"detect {port}")
        return state["esp"]

    def run_stub(esp):
        esp.calls.append("stub")
        return esp

    def attach_flash(esp):
        esp.calls.append("attach")

    def erase_flash(esp):
        esp.calls.append("erase")
        esp.flash[:] = b"\xff" * len(esp.flash)

    def write_flash(esp, addr_data, compress=False, no_progress=False):
        assert compress
        for offset, data in addr_data:
            esp.calls.append(f"write {offset:#x} {len(data)}")
            esp.flash[offset:offset + len(data)] = data

    def verify_flash(esp, addr_data):
        for offset, data in addr_data:
            esp.calls.append("verify")
            if bytes(esp.flash[offset:offset + len(data)]) != data:
                raise FatalError("Verification failed.")

    def reset_chip(esp, mode):
        esp.calls.append(mode)

    for name, fn in dict(detect_chip=detect_chip, run_stub=run_stub, attach_flash=attach_flash,
                         erase_flash=erase_flash, write_flash=write_flash,
                         verify_flash=verify_flash, reset_chip=reset_chip).items():
        monkeypatch.setattr(flash, name, fn)
    return state


def test_flash_sequence_writes_at_the_bootloader_offset_and_verifies(fake_esptool):
    image = flash.make_image(chips.CHIPS["esp32"], PAYLOAD)
    messages = []
    result = flash.flash_board("/dev/ttyUSB0", image, board_chip=chips.CHIPS["esp32"],
                               board_name="esp32-devkitc", flash_size_mb=4, erase=True,
                               report=messages.append)
    esp = fake_esptool["esp"]
    assert bytes(esp.flash[0x1000:0x1000 + len(image)]) == image
    assert esp.flash[0x1000 + len(image)] == 0xFF and esp.flash[0] == 0xFF  # erased
    assert esp.calls == ["detect /dev/ttyUSB0", "stub", "baud 460800", "attach",
                         "read 0x8000 3072",  # the board's table: no filesystem, no question
                         "erase", f"write 0x1000 {len(image)}", "verify", "hard-reset", "close"]
    assert (result.chip, result.offset, result.erased, result.verified) == ("esp32", 0x1000,
                                                                             True, True)
    assert any("ESP32" in m for m in messages)


def test_url_ports_keep_the_baud_rate_and_no_verify_skips_verification(fake_esptool):
    fake_esptool["esp"] = FakeEsp("ESP32-S3")
    image = flash.make_image(chips.CHIPS["esp32s3"], PAYLOAD)
    flash.flash_board("socket://127.0.0.1:1", image, verify=False)
    calls = fake_esptool["esp"].calls
    assert f"write 0x0 {len(image)}" in calls
    assert "verify" not in calls and not any(c.startswith("baud") for c in calls)


def test_detected_chip_must_match_the_board_profile(fake_esptool):
    fake_esptool["esp"] = FakeEsp("ESP32-S3")
    image = flash.make_image(chips.CHIPS["esp32"], PAYLOAD)
    with pytest.raises(RetrorunError, match="is an ESP32-S3, but board profile 'esp32-devkitc'"):
        flash.flash_board("/dev/ttyACM0", image, board_chip=chips.CHIPS["esp32"],
                          board_name="esp32-devkitc")
    assert not any(c.startswith("write") for c in fake_esptool["esp"].calls)


def test_detected_chip_must_match_the_image(fake_esptool):
    fake_esptool["esp"] = FakeEsp("ESP32-C3")
    image = flash.make_image(chips.CHIPS["esp32"], PAYLOAD)
    with pytest.raises(RetrorunError, match="the board on /dev/ttyACM0 is an ESP32-C3"):
        flash.flash_board("/dev/ttyACM0", image)


def test_an_image_callable_gets_the_detected_chip(fake_esptool):
    fake_esptool["esp"] = FakeEsp("ESP32-S3")
    asked = []

    def for_chip(chip):
        asked.append(chip.micropython_board)
        return flash.make_image(chip, PAYLOAD), "fetched.bin"

    result = flash.flash_board("socket://x", for_chip)
    assert asked == ["ESP32_GENERIC_S3"] and result.offset == 0


def test_verification_failure_is_one_line(fake_esptool, monkeypatch):
    def bad_write(esp, addr_data, compress=False, no_progress=False):
        esp.calls.append("write")  # writes nothing

    monkeypatch.setattr(flash, "write_flash", bad_write)
    image = flash.make_image(chips.CHIPS["esp32"], PAYLOAD)
    with pytest.raises(RetrorunError, match="flashing /dev/ttyUSB0 failed: Verification failed"):
        flash.flash_board("/dev/ttyUSB0", image)


def test_no_bootloader_is_a_clear_error(monkeypatch):
    def silent(port, **kw):
        raise FatalError("Failed to connect to Espressif device: No serial data received.")

    monkeypatch.setattr(flash, "detect_chip", silent)
    with pytest.raises(RetrorunError, match="no ESP32 bootloader answered on /dev/ttyUSB9"):
        flash.flash_board("/dev/ttyUSB9", flash.make_image(chips.CHIPS["esp32"], PAYLOAD))


def test_image_too_big_for_the_board_flash(fake_esptool):
    image = flash.make_image(chips.CHIPS["esp32"], bytes(1 << 20))
    with pytest.raises(RetrorunError, match="does not fit in the board's 1 MB flash"):
        flash.flash_board("/dev/ttyUSB0", image, flash_size_mb=1)


def test_cli_refuses_an_s3_image_for_an_esp32_board_before_connecting(tmp_path, capsys,
                                                                      fake_esptool):
    image = tmp_path / "ESP32_GENERIC_S3-test.bin"
    image.write_bytes(flash.make_image(chips.CHIPS["esp32s3"], PAYLOAD))
    status = main(["flash", "--port", "socket://127.0.0.1:9", "--board", "esp32-devkitc",
                   "--image", str(image)])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and err.startswith("retrorun: ")
    assert "ESP32-S3" in err and "esp32-devkitc" in err
    assert fake_esptool["esp"].calls == []  # never connected


def test_cli_flashes_and_reports_json(tmp_path, capsys, fake_esptool):
    image = tmp_path / "fw.bin"
    data = flash.make_image(chips.CHIPS["esp32"], PAYLOAD)
    image.write_bytes(data)
    status = main(["flash", "--port", "socket://127.0.0.1:9", "--board", "esp32-devkitc",
                   "--image", str(image), "--json"])
    out = capsys.readouterr().out
    assert status == 0
    import json

    doc = json.loads(out)
    assert doc == {"port": "socket://127.0.0.1:9", "chip": "esp32", "image_bytes": len(data),
                   "offset": 0x1000, "erased": False, "verified": True, "romfs": None,
                   "romfs_build": False}


def test_cli_version_without_a_pin_says_what_to_download(capsys, fake_esptool):
    status = main(["flash", "--port", "socket://127.0.0.1:9", "--board", "xiao-esp32s3",
                   "--version", "1.27.0"])
    err = capsys.readouterr().err
    assert status == 1
    assert "ESP32_GENERIC_S3" in err and "micropython.org/download/ESP32_GENERIC_S3" in err
    assert "--image" in err and fake_esptool["esp"].calls == []


def test_cli_port_is_picked_when_only_one_board_is_plugged(monkeypatch):
    from retrorun.link import devices
    from retrorun.link.devices import pick_port

    def found(ports):
        return lambda include_all=False: [
            devices.Device(p, "esp32 family", "CP2102", "", 0x10C4, 0xEA60, None, None)
            for p in ports]

    monkeypatch.setattr(devices, "find_devices", found(["/dev/ttyUSB0"]))
    assert pick_port(None) == "/dev/ttyUSB0"
    assert pick_port("/dev/ttyS5") == "/dev/ttyS5"
    monkeypatch.setattr(devices, "find_devices", found([]))
    with pytest.raises(RetrorunError, match="no serial port looks like an ESP32"):
        pick_port(None)
    monkeypatch.setattr(devices, "find_devices", found(["/dev/ttyUSB0", "/dev/ttyACM0"]))
    with pytest.raises(RetrorunError, match="several"):
        pick_port(None)


def test_esptool_progress_drives_a_rich_bar_and_the_logger_is_restored(fake_esptool,
                                                                        monkeypatch):
    from esp_pylib.logger import EspLog
    from esptool.logger import log

    updates, seen_no_progress = [], []
    monkeypatch.setattr(flash._Progress, "update",
                        lambda self, cur, total, label: updates.append((cur, total, label)))

    def write_with_progress(esp, addr_data, compress=False, no_progress=False):
        seen_no_progress.append(no_progress)
        log.print("Compressed 3000 bytes to 900...")
        with log.progress(total=900, unit="B") as progress:
            for _ in range(3):
                progress.update(advance=300, description="Writing at 0x00001000")

    monkeypatch.setattr(flash, "write_flash", write_with_progress)
    monkeypatch.setattr(flash, "verify_flash", lambda esp, addr_data: None)
    before = EspLog.instance
    image = flash.make_image(chips.CHIPS["esp32"], PAYLOAD)
    flash.flash_board("socket://x", image, show_progress=True)
    assert [u[0] for u in updates] == [300, 600, 900]
    assert all(u[1] == 900 and "Writing at" in u[2] for u in updates)
    assert EspLog.instance is before
    updates.clear()
    flash.flash_board("socket://x", image, show_progress=False)
    assert updates == []
    assert seen_no_progress == [False, True]


@pytest.mark.slow
def test_a_port_where_no_bootloader_answers_gives_one_clear_line():
    """Real esptool against a loopback socket that accepts and stays silent (~6 s)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(30)
    accepted = []

    def accept():
        try:
            accepted.append(server.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    port = f"socket://127.0.0.1:{server.getsockname()[1]}"
    try:
        with pytest.raises(RetrorunError) as exc:
            flash.flash_board(port, flash.make_image(chips.CHIPS["esp32"], PAYLOAD))
    finally:
        for conn in accepted:
            conn.close()
        server.close()
    message = str(exc.value)
    assert message.startswith(f"no ESP32 bootloader answered on {port}")
    assert "No serial data received" in message and "\n" not in message




def _firmware_with_stock_table(names: bytes = ROMFS_NAMES) -> bytes:
    """An ESP32 whole firmware (for 0x1000) with MicroPython's stock 4 MB table at 0x8000; by
    default a custom build with ROMFS (names: STOCK_NAMES for a micropython.org download)."""
    from retrorun.provision.partition_table import MICROPYTHON_ESP32_4MB as stock
    from retrorun.provision.partition_table import encode

    image = bytearray(flash.make_image(chips.CHIPS["esp32"], PAYLOAD))
    image += b"\xff" * (0x7000 - len(image))
    return bytes(image + encode(stock) + b"\xff" * 0x400 + PAYLOAD + names)


def test_a_stock_image_keeps_its_partition_table_and_says_why(fake_esptool):
    from retrorun.provision import partition_table

    image = _firmware_with_stock_table(STOCK_NAMES)
    messages = []
    result = flash.flash_board("/dev/ttyUSB0", image, report=messages.append)
    assert result.romfs is None and not result.romfs_build
    assert bytes(fake_esptool["esp"].flash[0x1000:0x1000 + len(image)]) == image
    assert partition_table.read_table(bytes(fake_esptool["esp"].flash)) == \
        partition_table.MICROPYTHON_ESP32_4MB
    said = [m for m in messages if "no ROMFS support" in m]
    assert len(said) == 1 and "partition table left as it is" in said[0] and ".mpy" in said[0]


def test_romfs_support_is_read_from_the_names_real_micropython_builds_hold():
    """Oracle: real MicroPython binaries from the registry. The Unix port has VfsRom but no
    vfs.rom_ioctl (`dir(vfs)` on it), and its names are NUL-terminated text in the binary."""
    import micropython_run

    from retrorun.provision.romfs import firmware_has_romfs

    binary = Path(micropython_run.__file__).read_bytes()
    assert b"VfsLfs2\x00" in binary and b"VfsRom\x00" in binary
    assert not firmware_has_romfs(binary)
    assert firmware_has_romfs(binary + b"rom_ioctl\x00")
    assert not firmware_has_romfs(b"use vfs.rom_ioctl here")  # a mention is not the name


def test_the_romfs_table_is_what_gets_written_and_verified(fake_esptool):
    from retrorun.provision import partition_table

    image = _firmware_with_stock_table()
    messages = []
    result = flash.flash_board("/dev/ttyUSB0", image, report=messages.append)
    esp = fake_esptool["esp"]
    written = bytes(esp.flash[0x1000:0x1000 + len(image)])
    assert written != image and len(written) == len(image)
    assert written[:0x7000] == image[:0x7000] and written[0x7C00:] == image[0x7C00:]
    parts = partition_table.read_table(bytes(esp.flash))
    assert partition_table.find(parts, "vfs").size == 0x1C0000
    assert result.romfs == partition_table.find(parts, "romfs")
    assert (result.romfs.offset, result.romfs.size) == (0x3C0000, 0x40000)
    assert "verify" in esp.calls  # verified against the modified bytes, and it passed
    assert any("romfs 256 KB at 0x3C0000" in m for m in messages)

    fake_esptool["esp"] = FakeEsp("ESP32")
    kept = flash.flash_board("/dev/ttyUSB0", image, romfs=False)
    assert kept.romfs is None
    assert bytes(fake_esptool["esp"].flash[0x1000:0x1000 + len(image)]) == image


def test_cli_reports_the_romfs_partition_and_no_romfs_keeps_the_table(tmp_path, capsys,
                                                                      fake_esptool):
    import json

    image = tmp_path / "fw.bin"
    image.write_bytes(_firmware_with_stock_table())
    assert main(["flash", "--port", "socket://x", "--image", str(image), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["romfs"] == {"offset": 0x3C0000, "size": 0x40000} and out["romfs_build"]
    fake_esptool["esp"] = FakeEsp("ESP32")
    assert main(["flash", "--port", "socket://x", "--image", str(image)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "romfs partition: 256 KB at 0x3C0000" in out and "sync sessions" in out
    fake_esptool["esp"] = FakeEsp("ESP32")
    assert main(["flash", "--port", "socket://x", "--image", str(image), "--no-romfs",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["romfs"] is None
    assert bytes(fake_esptool["esp"].flash[0x1000:0x1000 + image.stat().st_size]) == \
        image.read_bytes()


@pytest.mark.parametrize(("machine", "chip"), [
    # os.uname().machine = MICROPY_HW_BOARD_NAME " with " MICROPY_HW_MCU_NAME (ports/esp32)
    ("Generic ESP32 module with ESP32", "esp32"),
    ("Generic ESP32S3 module with ESP32S3", "esp32s3"),
    ("Generic ESP32S3 module with Octal-SPIRAM with ESP32S3", "esp32s3"),
    ("ESP32C3 module with ESP32C3", "esp32c3"),
    ("Raspberry Pi Pico with RP2040", None),  # another port altogether
    ("linux [GCC 12.2.0] version", None),  # the Unix port has no " with "
])
def test_the_chip_is_read_from_the_end_of_os_uname_machine(machine, chip):
    found = chips.chip_of_machine(machine)
    assert (found.name if found else None) == chip


def test_a_no_to_the_erase_question_writes_nothing_and_resets_the_board(fake_esptool):
    from retrorun.errors import RetrorunError
    from retrorun.provision import partition_table

    esp = fake_esptool["esp"]
    esp.flash[0x8000:0x8000 + partition_table.TABLE_SIZE] = partition_table.encode(
        partition_table.MICROPYTHON_ESP32_4MB)
    esp.flash[0x200000:0x200010] = b"littlefs files.."
    asked = []
    image = flash.make_image(chips.CHIPS["esp32"], PAYLOAD)
    with pytest.raises(RetrorunError, match="stopped before writing: nothing on the board"):
        flash.flash_board("/dev/ttyUSB0", image, erase=True,
                          confirm_erase=lambda what: asked.append(what) or False)
    assert asked == ["--erase erases the whole flash: the files on the board (sessions, "
                     "settings, in 'vfs' at 0x200000) are lost"]
    assert not any(c.startswith(("erase", "write")) for c in esp.calls)
    assert esp.calls[-2:] == ["hard-reset", "close"]
