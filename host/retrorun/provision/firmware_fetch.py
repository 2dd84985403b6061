"""Fetch the official MicroPython build for `retrorun flash --version V`, over HTTPS, checked.

The file is `<base>/resources/firmware/<BOARD>-<DATE>-v<VERSION>.bin`, base
https://micropython.org (as the board pages at micropython.org/download/<BOARD>/ link it, e.g.
ESP32_GENERIC-20251209-v1.27.0.bin). DATE is the release's build date: `RELEASE_DATES` holds the
releases' dates (the same for every board of a release); for another version it is read from
the board's download page, `<base>/download/<BOARD>/`.

Nothing is pinned: what makes the file trustworthy is HTTPS (the certificate of the server is
verified) and the build's own checks (`build_check.check_build`: checksums, the app's appended
SHA-256, its app descriptor naming MicroPython and the version, the images' chip). A file that
fails them is not kept. Downloads go to `<cache>/firmware/` (retrorun.paths.cache_dir()) under
their own name; a file there (also one copied by hand, for a laptop offline at the track) is
used when it passes the same checks.

For a mirror, or a test server on loopback: `base` (`--firmware-url`, or the environment
variable RETRORUN_FIRMWARE_BASE) replaces https://micropython.org, and `ca_file`
(`--firmware-ca`, RETRORUN_FIRMWARE_CA) is a PEM file of the certificates to trust instead of
the system's. Only https:// is accepted.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from retrorun.errors import RetrorunError
from retrorun.paths import cache_dir
from retrorun.provision.build_check import check_build
from retrorun.provision.chips import Chip

DEFAULT_BASE = "https://micropython.org"
BASE_ENV = "RETRORUN_FIRMWARE_BASE"
CA_ENV = "RETRORUN_FIRMWARE_CA"
FIRMWARE_PATH = "/resources/firmware/{name}"
DOWNLOAD_PAGE = "/download/{board}/"

# Release -> build date of its files on micropython.org (YYYYMMDD, from the file names, e.g.
# ESP32_GENERIC-20250415-v1.25.0.bin; one date for all boards of a release).
RELEASE_DATES = {
    "1.23.0": "20240602",
    "1.24.0": "20241025",
    "1.24.1": "20241129",
    "1.25.0": "20250415",
    "1.26.0": "20250809",
    "1.26.1": "20250911",
    "1.27.0": "20251209",
}
_VERSION = re.compile(r"\d+\.\d+\.\d+")


def file_name(board: str, date: str, version: str) -> str:
    return f"{board}-{date}-v{version}.bin"


def _base(base: str | None) -> str:
    base = (base or os.environ.get(BASE_ENV) or DEFAULT_BASE).rstrip("/")
    if not base.startswith("https://"):
        raise RetrorunError(f"the firmware site {base} is not https://; retrorun downloads "
                            "firmware over HTTPS only (give an https:// --firmware-url)")
    return base


def _context(ca_file: str | Path | None) -> ssl.SSLContext:
    ca_file = ca_file or os.environ.get(CA_ENV) or None
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise RetrorunError(f"cannot load the CA certificates {ca_file} ({exc}); give a PEM "
                            "file to --firmware-ca") from exc


def _get(url: str, context: ssl.SSLContext, timeout_s: float, what_to_do: str):
    try:
        return urllib.request.urlopen(url, timeout=timeout_s, context=context)
    except urllib.error.HTTPError as exc:
        raise RetrorunError(f"{url} answered HTTP {exc.code} {exc.reason}; {what_to_do}") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise RetrorunError(
                f"the HTTPS certificate of {url} cannot be trusted ({reason.verify_message}); "
                "nothing was downloaded. Check the laptop's clock, or give a mirror's CA with "
                "--firmware-ca") from exc
        raise RetrorunError(f"cannot download {url} (offline? {reason}); {what_to_do}") from exc
    except OSError as exc:
        raise RetrorunError(f"cannot download {url} (offline? {exc}); {what_to_do}") from exc


def _release_date(base: str, board: str, version: str, context: ssl.SSLContext,
                  timeout_s: float, by_hand: str) -> str:
    if version in RELEASE_DATES:
        return RELEASE_DATES[version]
    page = base + DOWNLOAD_PAGE.format(board=board)
    with _get(page, context, timeout_s, by_hand) as resp:
        html = resp.read().decode("utf-8", "replace")
    found = re.search(rf"{re.escape(board)}-(\d{{8}})-v{re.escape(version)}\.bin", html)
    if found is None:
        listed = sorted(set(re.findall(rf"{re.escape(board)}-\d{{8}}-v(\d+\.\d+\.\d+)\.bin",
                                       html)))
        have = f" (it lists {', '.join(listed)})" if listed else ""
        raise RetrorunError(f"{page} lists no v{version} build for {board}{have}; give "
                            "a released version to --version")
    return found.group(1)


def _usable(path: Path, chip: Chip, version: str) -> bool:
    try:
        check_build(path.read_bytes(), chip, version, path.name)
    except (RetrorunError, OSError):
        return False
    return True


def fetch_firmware(chip: Chip, board: str, version: str, *, base: str | None = None,
                   ca_file: str | Path | None = None, cache: Path | None = None,
                   timeout_s: float = 30.0) -> Path:
    """The path of the checked MicroPython `version` build of `board` (for `chip`),
    downloading it into the cache when no good copy is there."""
    version = version.removeprefix("v")
    if not _VERSION.fullmatch(version):
        raise RetrorunError(f"--version {version!r} is not a MicroPython release number; give "
                            "one like 1.27.0")
    folder = (cache or cache_dir()) / "firmware"
    for path in sorted(folder.glob(f"{board}-????????-v{version}.bin")):
        if _usable(path, chip, version):
            return path  # a checked copy: no network needed
    base = _base(base)
    context = _context(ca_file)
    page = f"https://micropython.org{DOWNLOAD_PAGE.format(board=board)}"
    by_hand = (f"download the {board} v{version} .bin from {page} and pass --image FILE, or "
               f"copy it into {folder}")
    date = _release_date(base, board, version, context, timeout_s, by_hand)
    name = file_name(board, date, version)
    url = base + FIRMWARE_PATH.format(name=name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    fd, tmp_name = tempfile.mkstemp(prefix=name + ".", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, _get(url, context, timeout_s, by_hand) as resp:
            for block in iter(lambda: resp.read(1 << 16), b""):
                out.write(block)
        try:
            check_build(tmp.read_bytes(), chip, version, url)
        except RetrorunError as exc:
            raise RetrorunError(f"{exc}; the file was not kept") from None
        os.replace(tmp, target)
    except OSError as exc:
        raise RetrorunError(f"downloading {url} failed ({exc}); {by_hand}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
