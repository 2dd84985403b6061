"""Fetch an official MicroPython build for `retrorun flash --version V`, checked by sha256.

Builds come from one pinned URL template,
`https://micropython.org/resources/firmware/<BOARD>-<DATE>-v<VERSION>.bin`, and each
(board, version) needs an entry in `PINNED` with the build date and the sha256 of the file.
A download goes to `<cache>/firmware/` (retrorun.paths.cache_dir()) under the file's own name
and is used only when its sha256 matches; a file copied there by hand is used the same way.

`PINNED` is EMPTY ON PURPOSE: these values could not be obtained and checked where this code
was written (no network), and a made-up hash would be worse than none. Until entries are added
(from micropython.org/download/<BOARD>/ and `sha256sum` of the downloaded file), `--version`
refuses with a message that says what to download by hand and to pass `--image FILE`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from retrorun.errors import RetrorunError
from retrorun.paths import cache_dir

URL_TEMPLATE = "https://micropython.org/resources/firmware/{board}-{date}-v{version}.bin"
DOWNLOAD_PAGE = "https://micropython.org/download/{board}/"


@dataclass(frozen=True)
class Pin:
    """One official build: its date stamp (YYYYMMDD, as in the file name) and sha256."""

    date: str
    sha256: str


# (MicroPython board, version) -> Pin. Empty until values are taken from the real files: see
# the module docstring. Example entry shape:
#   ("ESP32_GENERIC", "1.27.0"): Pin("2025MMDD", "<64 hex digits>"),
PINNED: dict[tuple[str, str], Pin] = {}


def file_name(board: str, version: str, pin: Pin) -> str:
    return f"{board}-{pin.date}-v{version}.bin"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_firmware(board: str, version: str, *, pins: dict[tuple[str, str], Pin] | None = None,
                   url_template: str | None = None, cache: Path | None = None,
                   timeout_s: float = 30.0) -> Path:
    """The path of the checked firmware file for (board, version), downloading it if needed."""
    version = version.removeprefix("v")
    pins = PINNED if pins is None else pins
    url_template = URL_TEMPLATE if url_template is None else url_template
    page = DOWNLOAD_PAGE.format(board=board)
    pin = pins.get((board, version))
    if pin is None:
        known = sorted(v for b, v in pins if b == board)
        have = f" (pinned versions: {', '.join(known)})" if known else ""
        raise RetrorunError(
            f"no pinned sha256 for MicroPython {version} on {board}{have}, so retrorun will not "
            f"download it; download the {board} v{version} .bin from {page} and pass "
            "--image FILE")
    folder = (cache or cache_dir()) / "firmware"
    folder.mkdir(parents=True, exist_ok=True)
    name = file_name(board, version, pin)
    target = folder / name
    if target.exists():
        if _sha256(target) == pin.sha256:
            return target
        target.unlink()  # a stale or damaged copy: fetch it again
    url = url_template.format(board=board, date=pin.date, version=version)
    by_hand = (f"download {url} by hand (sha256 {pin.sha256}) and pass --image FILE, or copy "
               f"it to {target}")
    fd, tmp_name = tempfile.mkstemp(prefix=name + ".", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as resp:
            for block in iter(lambda: resp.read(1 << 16), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != pin.sha256:
            raise RetrorunError(f"{url} has sha256 {digest.hexdigest()}, expected {pin.sha256}; "
                                f"the file was not kept. {by_hand}")
        os.replace(tmp, target)
    except urllib.error.HTTPError as exc:
        raise RetrorunError(f"{url} answered HTTP {exc.code} {exc.reason}; {by_hand}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise RetrorunError(f"cannot download {url} (offline? {reason}); {by_hand}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
