"""A MicroPython-shaped firmware file made with esptool's own image classes, and an HTTPS server
on 127.0.0.1 (self-signed certificate made here with `cryptography`) to download it from.

`firmware(chip)` is laid out as a micropython.org `.bin` is: the bootloader image at 0 (flash
at the chip's bootloader offset), MicroPython's 4 MB partition table at 0x8000, the app image
at the factory partition (0x10000). The images are built and saved by esptool
(`esptool.bin_image.<Chip>FirmwareImage.save`: segments, checksum, appended SHA-256); the app's
first (DROM) segment starts with an `esp_app_desc_t` packed here from ESP-IDF's layout.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import ssl
import struct
import threading
from pathlib import Path
from typing import ClassVar

from esptool import bin_image

from retrorun.provision import partition_table

IMAGE_CLASSES = {"esp32": bin_image.ESP32FirmwareImage,
                 "esp32s3": bin_image.ESP32S3FirmwareImage}
BOOTLOADER_OFFSET = {"esp32": 0x1000, "esp32s3": 0x0}  # esptool's BOOTLOADER_FLASH_OFFSET
APP_OFFSET = 0x10000  # the factory partition of MicroPython's table


def app_desc(version: str = "v1.27.0", project: str = "micropython") -> bytes:
    """esp_app_desc_t (ESP-IDF esp_app_desc.h): magic_word, secure_version, reserv1[2],
    version[32], project_name[32], time[16], date[16], idf_ver[32], app_elf_sha256[32],
    min/max_efuse_blk_rev_full (uint16), mmu_page_size, reserv3[3], reserv2[18]: 256 bytes."""
    out = struct.pack("<II8s32s32s16s16s32s32sHHB3s72s", 0xABCD5432, 0, b"",
                      version.encode(), project.encode(), b"12:00:00", b"Dec  9 2025",
                      b"v5.4.1", bytes(range(32)), 0, 199, 16, b"", b"")
    assert len(out) == 256
    return out


def _image(chip: str, segments: list[tuple[str, int, bytes]], entry: int) -> bytes:
    image = IMAGE_CLASSES[chip]()
    image.entrypoint = entry
    image.flash_mode = 2  # DIO
    image.flash_size_freq = 0x20  # 4MB, 40 MHz
    for name, address, data in segments:
        image.segments.append(bin_image.ELFSection(name.encode(), address, data, flags=0))
    return image.save(None)


def bootloader(chip: str = "esp32") -> bytes:
    rom = IMAGE_CLASSES[chip].ROM_LOADER
    dram = rom.MEMORY_MAP[[m[2] for m in rom.MEMORY_MAP].index("DRAM")][0]
    iram = rom.MEMORY_MAP[[m[2] for m in rom.MEMORY_MAP].index("IRAM")][0]
    return _image(chip, [(".dram0.data", dram + 0x10000, bytes(range(256)) * 8),
                         (".iram0.text", iram + 0x8000,
                          bytes((i * 7) & 0xFF for i in range(6000)))],
                  iram + 0x8400)


def app(chip: str = "esp32", version: str = "v1.27.0", project: str = "micropython") -> bytes:
    rom = IMAGE_CLASSES[chip].ROM_LOADER
    rodata = app_desc(version, project) + b"MicroPython names\0mount\0VfsLfs2\0" * 200
    code = bytes((i * 131 + 7) & 0xFF for i in range(20000))
    dram = rom.MEMORY_MAP[[m[2] for m in rom.MEMORY_MAP].index("DRAM")][0]
    return _image(chip, [(".flash.appdesc", rom.DROM_MAP_START + 0x20, rodata),
                         (".flash.text", rom.IROM_MAP_START + 0x20 + 0x20000, code),
                         (".dram0.data", dram + 0x100, bytes(3000))],
                  rom.IROM_MAP_START + 0x20400)


def firmware(chip: str = "esp32", version: str = "v1.27.0", *, boot: bytes | None = None,
             application: bytes | None = None) -> bytes:
    """The whole file, as written at the chip's bootloader offset."""
    offset = BOOTLOADER_OFFSET[chip]
    out = bytearray(boot if boot is not None else bootloader(chip))
    out += b"\xff" * (partition_table.TABLE_OFFSET - offset - len(out))
    out += partition_table.encode(partition_table.MICROPYTHON_ESP32_4MB)
    out += b"\xff" * (APP_OFFSET - offset - len(out))
    out += application if application is not None else app(chip, version)
    return bytes(out)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


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


class Site:
    """What a test sees of the server: its https:// base, the CA file, the files it serves
    (path -> bytes, changeable) and the paths asked for."""

    def __init__(self, base: str, ca_file: Path):
        self.base = base
        self.ca_file = ca_file
        self.files = _Handler.files
        self.hits = _Handler.hits


@contextlib.contextmanager
def https_site(folder: Path, files: dict[str, bytes]):
    """An HTTPS server on 127.0.0.1 serving `files` (URL path -> bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = _self_signed(folder)
    _Handler.files = dict(files)
    _Handler.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Site(f"https://127.0.0.1:{httpd.server_address[1]}", cert_file)
    finally:
        httpd.shutdown()
        httpd.server_close()
