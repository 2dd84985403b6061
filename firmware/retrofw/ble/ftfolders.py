"""The file-system side of the BLE file transfer (retrofw.ble.filetransfer): which device paths a
request may touch, the folder requests (DELETE, MKDIR, MOVE) and the LISTDIR entry stream.

`resolve` turns a request's path into a file-system path, or None for anything outside the
sessions folder ("." and ".." segments are refused rather than resolved). `FolderRequests`, a
base of the protocol core, answers DELETE, MKDIR, MOVE and LISTDIR; a refused request hands its
reason on so the control characteristic can tell the host. `Listing` streams LISTDIR entries
(header + name) from a buffer made once; the core asks it for one packet at a time.
"""

import os
import struct

from retrofw.fsutil import exists
from retrofw.wire_ble import (
    FT_DELETE,
    FT_ERROR,
    FT_ERROR_NO_FILE,
    FT_FLAG_DIRECTORY,
    FT_LISTDIR,
    FT_LISTDIR_ENTRY,
    FT_LISTDIR_ENTRY_FMT,
    FT_LISTDIR_ENTRY_SIZE,
    FT_MKDIR_FMT,
    FT_MKDIR_SIZE,
    FT_MKDIR_STATUS,
    FT_MKDIR_STATUS_FMT,
    FT_MKDIR_STATUS_SIZE,
    FT_MOVE,
    FT_MOVE_FMT,
    FT_MOVE_SIZE,
    FT_OK,
    FT_PATH_CMD_FMT,
    FT_PATH_CMD_SIZE,
)

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


PATH_MAX = const(96)  # longest path (bytes) a request may carry
_S_IFDIR = const(0x4000)

REASON_OUTSIDE = "path outside the sessions folder"


def is_dir(path):
    try:
        return (os.stat(path)[0] & _S_IFDIR) != 0
    except OSError:
        return False


def resolve(raw, root, fs_root):
    """The file-system path for the request path bytes `raw`, or None when it is not `root` or
    inside it. root: the sessions folder ("/sessions"); fs_root: where device paths live on the
    file system ("" on a board, a host folder in tests)."""
    try:
        path = bytes(raw).decode()
    except UnicodeError:
        path = ""
    if len(path) > 1 and path[-1] == "/":
        path = path[:-1]
    if path == root:
        return fs_root + root
    prefix = root if root == "/" else root + "/"
    ok = path.startswith(prefix) and "\x00" not in path
    if ok:
        for part in path[len(prefix):].split("/"):
            if part == "" or part == "." or part == "..":
                ok = False
    return fs_root + path if ok else None


class FolderRequests:
    """The folder requests of the file transfer, a base of `filetransfer.FileTransferCore`:
    DELETE, MKDIR, MOVE and LISTDIR. They read the request from the core's buffer `cmd`,
    check paths with `_path` (also the core's) and answer with `_error_reply` or a reply packet
    in `out`."""

    cmd: bytearray
    out: bytearray
    reply: int
    root: str  # the sessions folder as a device path
    fs_root: str  # where device paths live on the file system
    top: str  # the sessions folder on the file system
    listing: "Listing"

    def _path(self, start, length):
        """The file-system path of a request, or None (refused, reason noted) if not allowed."""
        path = resolve(self.cmd[start:start + length], self.root, self.fs_root)
        if path is None:
            self._refuse(REASON_OUTSIDE)
        return path

    def _refuse(self, reason):
        raise NotImplementedError

    def _error_reply(self, cmd, status, reason):
        raise NotImplementedError

    def _delete(self):
        length = struct.unpack_from(FT_PATH_CMD_FMT, self.cmd, 0)[2]
        path = self._path(FT_PATH_CMD_SIZE, length)
        status = FT_ERROR
        if path is None:
            pass
        elif path == self.top:
            self._refuse("the sessions folder itself cannot be deleted")
        elif not exists(path):
            status = FT_ERROR_NO_FILE
        else:
            try:
                if is_dir(path):
                    os.rmdir(path)
                else:
                    os.remove(path)
                status = FT_OK
            except OSError:
                self._refuse("cannot delete (a folder must be empty)")
        self._error_reply(FT_DELETE, status, None)

    def _mkdir(self):
        _, _, length, _, mtime = struct.unpack_from(FT_MKDIR_FMT, self.cmd, 0)
        path = self._path(FT_MKDIR_SIZE, length)
        status = FT_ERROR
        if path is not None:
            status = FT_OK
            # make each missing folder from the sessions folder down
            at = len(self.top)
            while status == FT_OK:
                at = path.find("/", at + 1)
                part = path if at < 0 else path[:at]
                if not is_dir(part):
                    try:
                        os.mkdir(part)
                    except OSError:
                        status = FT_ERROR
                        self._refuse("cannot make the folder")
                if at < 0:
                    break
        struct.pack_into(FT_MKDIR_STATUS_FMT, self.out, 0, FT_MKDIR_STATUS, status, 0, 0,
                         mtime if status == FT_OK else 0)
        self.reply = FT_MKDIR_STATUS_SIZE

    def _move(self):
        _, _, a, b = struct.unpack_from(FT_MOVE_FMT, self.cmd, 0)
        old = self._path(FT_MOVE_SIZE, a)
        new = None if old is None else self._path(FT_MOVE_SIZE + a + 1, b)
        status = FT_ERROR
        if old is None or new is None:
            pass
        elif old == self.top or new == self.top:
            self._refuse("the sessions folder itself cannot be moved")
        elif not exists(old):
            status = FT_ERROR_NO_FILE
        else:
            try:
                os.rename(old, new)
                status = FT_OK
            except OSError:
                self._refuse("cannot move the file")
        self._error_reply(FT_MOVE, status, None)

    def _listdir(self):
        """True when the listing started (the core then streams `listing`)."""
        length = struct.unpack_from(FT_PATH_CMD_FMT, self.cmd, 0)[2]
        path = self._path(FT_PATH_CMD_SIZE, length)
        if path is None:
            self._error_reply(FT_LISTDIR, FT_ERROR, None)
            return False
        status, reason = self.listing.start(path)
        if status != FT_OK:
            self._error_reply(FT_LISTDIR, status, reason)
            return False
        return True


class Listing:
    """The LISTDIR answer as a byte stream: one entry (header + name) after the other, each
    starting a new packet, then the closing entry (index == count).

    adafruit_ble_file_transfer parses an entry header only when it starts and ends inside one
    packet, so listing needs payloads of at least 28 bytes (ATT_MTU >= 31); below that the
    entries still go out, split, and only a stream-reading client can use them.
    """

    def __init__(self):
        self.sbuf = bytearray(FT_LISTDIR_ENTRY_SIZE + PATH_MAX)
        self.sview = memoryview(self.sbuf)
        self.clear()

    def clear(self):
        self.names = None
        self.folder = ""
        self.index = 0
        self.count = 0
        self.slen = 0  # bytes of the entry in sbuf
        self.ssent = 0  # of them sent
        self.done = True  # no entry left to build

    def start(self, path):
        """List the folder `path` from its first entry: (status, reason)."""
        if not is_dir(path):
            return FT_ERROR_NO_FILE, "no such folder"
        try:
            self.names = sorted(os.listdir(path))
        except OSError:
            return FT_ERROR, "cannot list the folder"
        self.count = len(self.names)
        self.index = 0
        self.folder = path
        self.slen = 0
        self.ssent = 0
        self.done = False
        return FT_OK, None

    def error(self, status):
        """Answer with one entry carrying `status` (28 bytes: may need two packets at MTU 23)."""
        struct.pack_into(FT_LISTDIR_ENTRY_FMT, self.sbuf, 0, FT_LISTDIR_ENTRY, status, 0, 0, 0,
                         0, 0, 0)
        self.slen = FT_LISTDIR_ENTRY_SIZE
        self.ssent = 0
        self.done = True

    def finished(self):
        return self.ssent >= self.slen and self.done

    def next_packet(self, outv, payload):
        """Copy the next packet (at most `payload` bytes) into outv; its length, 0 at the end."""
        if self.ssent >= self.slen:
            if self.done:
                self.names = None
                return 0
            self._build_entry()
        k = min(payload, self.slen - self.ssent)
        outv[0:k] = self.sview[self.ssent:self.ssent + k]
        self.ssent += k
        if self.finished():
            self.names = None
        return k

    def _build_entry(self):
        self.ssent = 0
        if self.index >= self.count:
            struct.pack_into(FT_LISTDIR_ENTRY_FMT, self.sbuf, 0, FT_LISTDIR_ENTRY, FT_OK, 0,
                             self.count, self.count, 0, 0, 0)
            self.slen = FT_LISTDIR_ENTRY_SIZE
            self.done = True
            return
        names = self.names
        name = names[self.index] if names is not None else ""
        dir_flag = False
        size = 0
        mtime = 0  # the device has no trustworthy wall clock: modification times are 0
        try:
            st = os.stat(self.folder + "/" + name)
            dir_flag = (st[0] & _S_IFDIR) != 0
            size = 0 if dir_flag else st[6]
        except OSError:
            pass
        encoded = name.encode()
        n = min(len(encoded), PATH_MAX)
        struct.pack_into(FT_LISTDIR_ENTRY_FMT, self.sbuf, 0, FT_LISTDIR_ENTRY, FT_OK, n,
                         self.index, self.count, FT_FLAG_DIRECTORY if dir_flag else 0, mtime,
                         size)
        self.sview[FT_LISTDIR_ENTRY_SIZE:FT_LISTDIR_ENTRY_SIZE + n] = encoded[:n]
        self.slen = FT_LISTDIR_ENTRY_SIZE + n
        self.index += 1
