"""retrorun.provision.firmware_fetch against a loopback HTTP server (127.0.0.1 only): sha256 check,
cache, offline and refusal messages."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from retrorun.errors import RetrorunError
from retrorun.provision import firmware_fetch
from retrorun.provision.firmware_fetch import Pin, fetch_firmware

BOARD, VERSION, DATE = "ESP32_GENERIC", "1.27.0", "20251209"
CONTENT = b"\xe9\x03\x02\x20" + bytes(range(256)) * 64


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files = {f"/resources/firmware/{BOARD}-{DATE}-v{VERSION}.bin": CONTENT}
    _Handler.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    yield f"http://{host}:{port}/resources/firmware/{{board}}-{{date}}-v{{version}}.bin"
    httpd.shutdown()
    httpd.server_close()


def _pins(sha=None):
    return {(BOARD, VERSION): Pin(DATE, sha or hashlib.sha256(CONTENT).hexdigest())}


def test_download_is_checked_and_cached(server, tmp_path):
    path = fetch_firmware(BOARD, VERSION, pins=_pins(), url_template=server, cache=tmp_path)
    assert path == tmp_path / "firmware" / f"{BOARD}-{DATE}-v{VERSION}.bin"
    assert path.read_bytes() == CONTENT
    assert len(_Handler.hits) == 1
    again = fetch_firmware(BOARD, "v" + VERSION, pins=_pins(), url_template=server,
                           cache=tmp_path)
    assert again == path and len(_Handler.hits) == 1  # served from the cache
    assert list((tmp_path / "firmware").iterdir()) == [path]  # no .part left


def test_a_wrong_sha256_is_refused_and_not_kept(server, tmp_path):
    with pytest.raises(RetrorunError) as exc:
        fetch_firmware(BOARD, VERSION, pins=_pins("0" * 64), url_template=server, cache=tmp_path)
    message = str(exc.value)
    assert hashlib.sha256(CONTENT).hexdigest() in message and "0" * 64 in message
    assert list((tmp_path / "firmware").iterdir()) == []


def test_a_damaged_cached_copy_is_fetched_again(server, tmp_path):
    cached = tmp_path / "firmware" / f"{BOARD}-{DATE}-v{VERSION}.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(CONTENT[:100])
    path = fetch_firmware(BOARD, VERSION, pins=_pins(), url_template=server, cache=tmp_path)
    assert path.read_bytes() == CONTENT and len(_Handler.hits) == 1


def test_a_hand_copied_file_is_used_offline(tmp_path):
    cached = tmp_path / "firmware" / f"{BOARD}-{DATE}-v{VERSION}.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(CONTENT)
    path = fetch_firmware(BOARD, VERSION, pins=_pins(), url_template="http://127.0.0.1:9/{board}",
                          cache=tmp_path)
    assert path == cached


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_message_says_what_to_download_and_where(tmp_path):
    template = f"http://127.0.0.1:{_closed_port()}/fw/{{board}}-{{date}}-v{{version}}.bin"
    with pytest.raises(RetrorunError) as exc:
        fetch_firmware(BOARD, VERSION, pins=_pins(), url_template=template, cache=tmp_path,
                       timeout_s=5)
    message = str(exc.value)
    assert f"/fw/{BOARD}-{DATE}-v{VERSION}.bin" in message
    assert "--image" in message and str(tmp_path / "firmware") in message
    assert hashlib.sha256(CONTENT).hexdigest() in message and "\n" not in message


def test_http_errors_are_reported(server, tmp_path):
    pins = {(BOARD, "9.9.9"): Pin(DATE, "1" * 64)}
    with pytest.raises(RetrorunError, match="HTTP 404"):
        fetch_firmware(BOARD, "9.9.9", pins=pins, url_template=server, cache=tmp_path)


def test_unpinned_versions_are_refused_with_the_download_page(tmp_path):
    with pytest.raises(RetrorunError) as exc:
        fetch_firmware("ESP32_GENERIC_S3", "1.27.0", pins=_pins(), cache=tmp_path)
    message = str(exc.value)
    assert "https://micropython.org/download/ESP32_GENERIC_S3/" in message
    assert "--image" in message


def test_the_shipped_url_template_and_pins_are_well_formed():
    url = firmware_fetch.URL_TEMPLATE.format(board=BOARD, date=DATE, version=VERSION)
    assert url == f"https://micropython.org/resources/firmware/{BOARD}-{DATE}-v{VERSION}.bin"
    for (board, version), pin in firmware_fetch.PINNED.items():
        assert board.isupper() and version[0].isdigit()
        assert len(pin.date) == 8 and pin.date.isdigit()
        assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0


def test_cache_dir_default_is_used(monkeypatch, tmp_path, server):
    monkeypatch.setattr(firmware_fetch, "cache_dir", lambda: tmp_path / "c")
    path = fetch_firmware(BOARD, VERSION, pins=_pins(), url_template=server)
    assert Path(path).parent == tmp_path / "c" / "firmware"
