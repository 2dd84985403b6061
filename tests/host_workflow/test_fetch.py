"""retrorun.provision.firmware_fetch and build_check against an HTTPS server on 127.0.0.1
(self-signed certificate made in the test) serving firmware built with esptool's own image
classes (tests/official_build.py); esptool's `image-info` is the oracle for what is valid."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import official_build as ob
import pytest

from retrorun.errors import RetrorunError
from retrorun.provision import build_check, chips, firmware_fetch
from retrorun.provision.firmware_fetch import fetch_firmware

BOARD, VERSION, DATE = "ESP32_GENERIC", "1.27.0", "20251209"
ESP32 = chips.CHIPS["esp32"]
PATH = f"/resources/firmware/{BOARD}-{DATE}-v{VERSION}.bin"
GOOD = ob.firmware("esp32", "v1.27.0")
APP_AT = ob.APP_OFFSET - ob.BOOTLOADER_OFFSET["esp32"]  # the app's place in the file


def _image_info(tmp_path: Path, data: bytes) -> str:
    """`esptool image-info` of one image (the oracle)."""
    path = tmp_path / "image.bin"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-m", "esptool", "image-info", str(path)],
                          capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


@pytest.fixture
def site(tmp_path):
    with ob.https_site(tmp_path / "site", {PATH: GOOD}) as s:
        yield s


def _fetch(site, tmp_path, version=VERSION, chip=ESP32, board=BOARD, **kw):
    return fetch_firmware(chip, board, version, base=site.base, ca_file=site.ca_file,
                          cache=tmp_path / "cache", **kw)


def _tampered(at: int) -> bytes:
    data = bytearray(GOOD)
    data[at] ^= 0x01
    return bytes(data)


def test_esptool_finds_the_test_build_valid_and_build_check_agrees(tmp_path):
    app = GOOD[APP_AT:]
    info = _image_info(tmp_path, app)
    assert "Chip ID: 0 (ESP32)" in info
    assert "Project name: micropython" in info and "App version: v1.27.0" in info
    valid = re.search(r"Validation hash: ([0-9a-f]{64}) \(valid\)", info)
    assert valid and "Checksum: 0x" in info and "(valid)" in info
    build = build_check.check_build(GOOD, ESP32, VERSION, "fw.bin")
    assert build.app_offset == 0x10000
    assert build.app_sha256 == valid.group(1)  # esptool's digest of the same bytes
    assert (build.app.version, build.app.project_name) == ("v1.27.0", "micropython")
    assert "(valid)" in _image_info(tmp_path, GOOD[:APP_AT].rstrip(b"\xff"))  # bootloader too


def test_download_over_https_is_checked_and_cached(site, tmp_path):
    path = _fetch(site, tmp_path)
    assert path == tmp_path / "cache" / "firmware" / f"{BOARD}-{DATE}-v{VERSION}.bin"
    assert path.read_bytes() == GOOD and site.hits == [PATH]
    again = _fetch(site, tmp_path, version="v" + VERSION)
    assert again == path and site.hits == [PATH]  # the checked copy in the cache
    assert list(path.parent.iterdir()) == [path]  # no .part left


def test_the_site_and_ca_come_from_the_environment(site, tmp_path, monkeypatch):
    monkeypatch.setenv(firmware_fetch.BASE_ENV, site.base)
    monkeypatch.setenv(firmware_fetch.CA_ENV, str(site.ca_file))
    path = fetch_firmware(ESP32, BOARD, VERSION, cache=tmp_path / "cache")
    assert path.read_bytes() == GOOD and site.hits == [PATH]


def test_a_tampered_byte_is_refused_naming_the_sha_mismatch_and_nothing_is_kept(site, tmp_path):
    bad = _tampered(APP_AT + 0x20 + 300)  # inside the app's first (DROM) segment
    assert re.search(r"Validation hash: [0-9a-f]{64} \(invalid\)",
                     _image_info(tmp_path, bad[APP_AT:]))  # esptool sees it too
    site.files[PATH] = bad
    with pytest.raises(RetrorunError) as exc:
        _fetch(site, tmp_path)
    message = str(exc.value)
    assert "SHA-256 mismatch in the app image (file offset 0xF000)" in message
    assert "not kept" in message and "\n" not in message
    assert list((tmp_path / "cache" / "firmware").iterdir()) == []


def test_a_tampered_bootloader_is_refused_too(site, tmp_path):
    site.files[PATH] = _tampered(100)
    with pytest.raises(RetrorunError, match=r"SHA-256 mismatch in the bootloader image"):
        _fetch(site, tmp_path)


def test_a_damaged_partition_table_is_refused(site, tmp_path):
    site.files[PATH] = _tampered(0x7000 + 40)  # a byte of the first entry: the MD5 fails
    with pytest.raises(RetrorunError, match=r"partition table at 0x8000 is not valid"):
        _fetch(site, tmp_path)


def test_a_build_for_another_chip_is_refused(site, tmp_path):
    site.files[PATH] = ob.firmware("esp32s3")  # served under the ESP32 name
    with pytest.raises(RetrorunError) as exc:
        _fetch(site, tmp_path)
    assert "the bootloader image is for ESP32-S3, not ESP32" in str(exc.value)
    # an ESP32 bootloader in front of an ESP32-S3 app: the app's header gives it away
    site.files[PATH] = ob.firmware("esp32", application=ob.app("esp32s3"))
    assert "Chip ID: 9 (ESP32-S3)" in _image_info(tmp_path, ob.app("esp32s3"))
    with pytest.raises(RetrorunError, match="the app image is for ESP32-S3, not ESP32"):
        _fetch(site, tmp_path)


def test_a_build_of_another_version_is_refused(site, tmp_path):
    site.files[PATH] = ob.firmware("esp32", "v1.26.1")
    with pytest.raises(RetrorunError) as exc:
        _fetch(site, tmp_path)
    assert "the app descriptor says version 'v1.26.1', not 'v1.27.0'" in str(exc.value)


def test_an_app_that_is_not_micropython_is_refused(site, tmp_path):
    site.files[PATH] = ob.firmware("esp32", application=ob.app(project="hello_world"))
    with pytest.raises(RetrorunError, match="the project 'hello_world', not 'micropython'"):
        _fetch(site, tmp_path)


def test_an_untrusted_certificate_downloads_nothing(site, tmp_path):
    with pytest.raises(RetrorunError) as exc:
        fetch_firmware(ESP32, BOARD, VERSION, base=site.base, cache=tmp_path / "cache")
    assert "HTTPS certificate" in str(exc.value) and "cannot be trusted" in str(exc.value)
    assert site.hits == []


def test_plain_http_is_refused(tmp_path):
    with pytest.raises(RetrorunError, match="HTTPS only"):
        fetch_firmware(ESP32, BOARD, VERSION, base="http://127.0.0.1:9",
                       cache=tmp_path / "cache")


def test_a_version_not_in_the_table_takes_its_date_from_the_download_page(site, tmp_path):
    name = f"{BOARD}-20991231-v9.8.7.bin"
    site.files[f"/download/{BOARD}/"] = (
        f'<a href="/resources/firmware/{BOARD}-20251209-v1.27.0.bin">v1.27.0</a>'
        f'<a href="/resources/firmware/{name}">v9.8.7 (2099-12-31) .bin</a>').encode()
    site.files[f"/resources/firmware/{name}"] = ob.firmware("esp32", "v9.8.7")
    path = _fetch(site, tmp_path, version="9.8.7")
    assert path.name == name
    with pytest.raises(RetrorunError) as exc:
        _fetch(site, tmp_path, version="9.9.9")
    assert f"lists no v9.9.9 build for {BOARD} (it lists 1.27.0, 9.8.7)" in str(exc.value)


def test_a_damaged_cached_copy_is_fetched_again(site, tmp_path):
    cached = tmp_path / "cache" / "firmware" / f"{BOARD}-{DATE}-v{VERSION}.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(GOOD[:5000])
    assert _fetch(site, tmp_path).read_bytes() == GOOD and site.hits == [PATH]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_hand_copied_file_is_used_offline(tmp_path):
    cached = tmp_path / "cache" / "firmware" / f"{BOARD}-{DATE}-v{VERSION}.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(GOOD)
    path = fetch_firmware(ESP32, BOARD, VERSION, base=f"https://127.0.0.1:{_closed_port()}",
                          cache=tmp_path / "cache")
    assert path == cached


def test_offline_says_what_to_download_and_where(tmp_path):
    with pytest.raises(RetrorunError) as exc:
        fetch_firmware(ESP32, BOARD, VERSION, base=f"https://127.0.0.1:{_closed_port()}",
                       cache=tmp_path / "cache", timeout_s=5)
    message = str(exc.value)
    assert f"/resources/firmware/{BOARD}-{DATE}-v{VERSION}.bin (offline?" in message
    assert f"https://micropython.org/download/{BOARD}/" in message
    assert "--image" in message and str(tmp_path / "cache" / "firmware") in message
    assert "\n" not in message


def test_http_errors_are_reported(site, tmp_path):
    del site.files[PATH]
    with pytest.raises(RetrorunError, match=f"{re.escape(PATH)} answered HTTP 404"):
        _fetch(site, tmp_path)


def test_a_version_number_is_asked_for():
    with pytest.raises(RetrorunError, match="not a MicroPython release number"):
        fetch_firmware(ESP32, BOARD, "latest")


def test_the_default_site_is_micropython_org_over_https(monkeypatch):
    monkeypatch.delenv(firmware_fetch.BASE_ENV, raising=False)
    assert firmware_fetch.DEFAULT_BASE + firmware_fetch.FIRMWARE_PATH.format(
        name=firmware_fetch.file_name(BOARD, "20250415", "1.25.0")) == \
        "https://micropython.org/resources/firmware/ESP32_GENERIC-20250415-v1.25.0.bin"
