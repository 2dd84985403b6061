"""Device side of Adafruit's BLE File Transfer protocol (version 4), limited to one folder.

Transport-independent: the GATT glue feeds every packet written to the transfer
characteristic into `on_packet(data)`, and the core hands the packets to notify to its
`send(view)` callback. `send` returns False when the radio cannot take the packet now; the core
then keeps it and the glue calls `resume()` later (nothing is lost, nothing is re-read).

Commands (layouts in retrofw.wire_ble, FT_*_FMT): READ / READ_PACING, WRITE / WRITE_DATA, DELETE,
MKDIR, LISTDIR, MOVE. Every request is refused with FT_ERROR, before anything on the file system
is touched, when the connection is not authenticated (see control.py) or a path is not inside
the sessions folder; the reason is handed to `refused(reason)` so the control characteristic can
tell the host why. Paths are absolute device paths ("/sessions/000001.rrl"); which ones a request
may touch, the folder requests and the LISTDIR entries are in retrofw.ble.ftfolders. This module
is the protocol: request framing, READ and WRITE streaming, and the answers.

Memory: one packet buffer (BLE_PAYLOAD_MAX) and one command buffer are made once; file data is
read from flash straight into the packet buffer and written from the received packet straight to
flash, so a transfer of any size needs no more RAM. READ chunks are the size the client asks for
(the protocol lets the server dictate; we honour the request, capped at `chunk_max`).
"""

import os
import struct

from retrofw.ble.ftfolders import PATH_MAX, FolderRequests, Listing, is_dir
from retrofw.fsutil import exists
from retrofw.wire_ble import (
    BLE_PAYLOAD_MAX,
    BLE_PAYLOAD_MIN,
    FT_DELETE,
    FT_DELETE_STATUS,
    FT_ERROR,
    FT_ERROR_NO_FILE,
    FT_ERROR_PROTOCOL,
    FT_LISTDIR,
    FT_LISTDIR_ENTRY,
    FT_MKDIR,
    FT_MKDIR_SIZE,
    FT_MKDIR_STATUS,
    FT_MKDIR_STATUS_FMT,
    FT_MKDIR_STATUS_SIZE,
    FT_MOVE,
    FT_MOVE_SIZE,
    FT_MOVE_STATUS,
    FT_OK,
    FT_PACING_FMT,
    FT_PATH_CMD_SIZE,
    FT_READ,
    FT_READ_DATA,
    FT_READ_DATA_FMT,
    FT_READ_DATA_SIZE,
    FT_READ_FMT,
    FT_READ_PACING,
    FT_READ_SIZE,
    FT_STATUS_FMT,
    FT_STATUS_SIZE,
    FT_WRITE,
    FT_WRITE_DATA,
    FT_WRITE_FMT,
    FT_WRITE_PACING,
    FT_WRITE_PACING_FMT,
    FT_WRITE_PACING_SIZE,
    FT_WRITE_SIZE,
)

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_CMD_MAX = const(199)  # FT_MOVE_SIZE + 2 * PATH_MAX + 1
_CHUNK_MAX = const(4096)
_WRITE_WINDOW = const(1024)

# states
_IDLE = const(0)
_READING = const(1)  # sending a READ chunk
_READ_WAIT = const(2)  # chunk sent, waiting for READ_PACING
_WRITE_WAIT = const(3)  # pacing sent, waiting for WRITE_DATA
_WRITING = const(4)  # receiving WRITE_DATA bytes
_LISTING = const(5)  # sending LISTDIR entries
_SKIP = const(6)  # discarding the path of a request that was too long

REASON_NOT_AUTH = "not authenticated: answer the challenge on the control characteristic"


def _header_size(cmd):
    """Fixed header size of a request (0: unknown command)."""
    if cmd == FT_READ or cmd == FT_READ_PACING or cmd == FT_WRITE_DATA:
        return FT_READ_SIZE
    if cmd == FT_WRITE:
        return FT_WRITE_SIZE
    if cmd == FT_DELETE or cmd == FT_LISTDIR:
        return FT_PATH_CMD_SIZE
    if cmd == FT_MKDIR:
        return FT_MKDIR_SIZE
    if cmd == FT_MOVE:
        return FT_MOVE_SIZE
    return 0


def _status_cmd(cmd):
    """The answer command code for a request (its error replies use it too)."""
    if cmd == FT_READ:
        return FT_READ_DATA
    if cmd == FT_WRITE:
        return FT_WRITE_PACING
    if cmd == FT_DELETE:
        return FT_DELETE_STATUS
    if cmd == FT_MKDIR:
        return FT_MKDIR_STATUS
    if cmd == FT_LISTDIR:
        return FT_LISTDIR_ENTRY
    if cmd == FT_MOVE:
        return FT_MOVE_STATUS
    return 0


class FileTransferCore(FolderRequests):
    """One connection's file-transfer state. Make one per connection (or call `reset()`)."""

    def __init__(self, send, sessions_dir="/sessions", authorized=None, refused=None,
                 payload_size=BLE_PAYLOAD_MIN, chunk_max=_CHUNK_MAX, fs_root=""):
        self.send = send
        self.root = sessions_dir.rstrip("/") or "/"
        # where device paths live on the file system: "" on a board; a host folder in tests
        self.fs_root = fs_root.rstrip("/")
        self.top = self.fs_root + self.root
        self.authorized = authorized
        self.refused = refused
        self.chunk_max = chunk_max
        self.payload = BLE_PAYLOAD_MIN
        self.out = bytearray(BLE_PAYLOAD_MAX)
        self.outv = memoryview(self.out)
        self.set_payload(payload_size)
        self.cmd = bytearray(_CMD_MAX)
        self.cmdv = memoryview(self.cmd)
        self.file = None
        self.listing = Listing()
        self.why = ""
        self.bytes_in = 0
        self.bytes_out = 0
        self.reset()

    # -- connection life ----------------------------------------------------------------------
    def set_payload(self, payload_size):
        """Largest notification payload on this connection (ATT_MTU - 3), 20..244."""
        if payload_size < BLE_PAYLOAD_MIN:
            payload_size = BLE_PAYLOAD_MIN
        if payload_size > BLE_PAYLOAD_MAX:
            payload_size = BLE_PAYLOAD_MAX
        self.payload = payload_size
        # views of a full packet, made once per connection: full-size data packets (all but
        # the last of each chunk) go out without allocating anything
        self.full = self.outv[:payload_size]
        self.after_head = self.outv[FT_READ_DATA_SIZE:payload_size]

    def reset(self):
        """Forget any transfer in progress (new connection, disconnect)."""
        self._close()
        self.state = _IDLE
        self.fill = 0  # bytes in self.cmd
        self.need = 0  # bytes the request in self.cmd needs (0: unknown yet)
        self.held = 0  # length of a packet in self.out that send() did not take yet
        self.reply = 0  # length of a one-packet reply waiting in self.out
        self.skip = 0
        self.offset = 0
        self.total = 0
        self.chunk_left = 0
        self.header_due = False
        self.mtime = 0
        self.listing.clear()

    def _close(self):
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None
        self.listing.names = None

    # -- input --------------------------------------------------------------------------------
    def on_packet(self, data):
        """Feed one packet written by the client; sends whatever the protocol answers."""
        n = len(data)
        self.bytes_in += n
        i = 0
        while i < n:
            if self.state == _WRITING:
                i += self._write_bytes(data, i, n)
                continue
            if self.state == _SKIP:
                k = min(self.skip, n - i)
                self.skip -= k
                i += k
                if self.skip == 0:
                    self.state = _IDLE
                continue
            if self.fill == 0:
                size = _header_size(data[i])
                if size == 0:  # not a request start: garbage or the tail of a lost one
                    self.why = "unknown command 0x%02x" % data[i]
                    break
                self.need = size
            k = min(self.need - self.fill, n - i)
            self.cmdv[self.fill:self.fill + k] = data[i:i + k]
            self.fill += k
            i += k
            if self.fill == self.need:
                extra = self._extra_bytes()
                if extra < 0:  # path too long: answer now, drop its bytes
                    self.skip = -extra
                    self.fill = 0
                    self.state = _SKIP
                    self._error_reply(self.cmd[0], FT_ERROR, "path too long")
                    continue
                if self.fill < self.need + extra:
                    self.need += extra
                    continue
                self.fill = 0
                self._dispatch()
        self._pump()

    def _extra_bytes(self):
        """Bytes following the fixed header (paths); -(bytes to skip) if they are too long."""
        cmd = self.cmd[0]
        if self.need != _header_size(cmd):
            return 0  # header and paths already counted
        if cmd == FT_READ_PACING or cmd == FT_WRITE_DATA:
            return 0
        if cmd == FT_MOVE:
            a, b = struct.unpack_from("<HH", self.cmd, 2)
            extra = a + 1 + b
            if a > PATH_MAX or b > PATH_MAX:
                return -extra
            return extra
        length = struct.unpack_from("<H", self.cmd, 2)[0]
        if length > PATH_MAX:
            return -length
        return length

    def _refuse(self, reason):
        self.why = reason
        if self.refused is not None:
            self.refused(reason)

    def _allowed(self):
        if self.authorized is not None and self.authorized():
            return True
        self._refuse(REASON_NOT_AUTH)
        return False

    # -- requests -----------------------------------------------------------------------------
    def _dispatch(self):
        cmd = self.cmd[0]
        if cmd == FT_READ_PACING:
            self._read_pacing()
            return
        if cmd == FT_WRITE_DATA:
            self._write_data()
            return
        # any new request ends the one in progress (and drops its packet still waiting)
        self._close()
        self.state = _IDLE
        self.reply = 0
        self.held = 0
        if not self._allowed():
            self._error_reply(cmd, FT_ERROR, None)
            return
        if cmd == FT_READ:
            self._read()
        elif cmd == FT_WRITE:
            self._write()
        elif cmd == FT_DELETE:
            self._delete()
        elif cmd == FT_MKDIR:
            self._mkdir()
        elif cmd == FT_LISTDIR:
            if self._listdir():
                self.state = _LISTING
        elif cmd == FT_MOVE:
            self._move()

    def _error_reply(self, cmd, status, reason):
        if reason is not None:
            self._refuse(reason)
        answer = _status_cmd(cmd)
        out = self.out
        if answer == FT_READ_DATA:
            struct.pack_into(FT_READ_DATA_FMT, out, 0, answer, status, 0, 0, 0, 0)
            self.reply = FT_READ_DATA_SIZE
        elif answer == FT_WRITE_PACING:
            struct.pack_into(FT_WRITE_PACING_FMT, out, 0, answer, status, 0, 0, 0, 0)
            self.reply = FT_WRITE_PACING_SIZE
        elif answer == FT_MKDIR_STATUS:
            struct.pack_into(FT_MKDIR_STATUS_FMT, out, 0, answer, status, 0, 0, 0)
            self.reply = FT_MKDIR_STATUS_SIZE
        elif answer == FT_LISTDIR_ENTRY:
            self.listing.error(status)
            self.state = _LISTING
        elif answer != 0:
            struct.pack_into(FT_STATUS_FMT, out, 0, answer, status)
            self.reply = FT_STATUS_SIZE

    def _read(self):
        _, _, length, offset, chunk = struct.unpack_from(FT_READ_FMT, self.cmd, 0)
        path = self._path(FT_READ_SIZE, length)
        if path is None:
            self._error_reply(FT_READ, FT_ERROR, None)
            return
        try:
            size = os.stat(path)[6]
            if is_dir(path):
                raise OSError(21)
            self.file = open(path, "rb")
        except OSError:
            self._error_reply(FT_READ, FT_ERROR_NO_FILE, "no such file")
            return
        if offset > size:
            self._close()
            struct.pack_into(FT_READ_DATA_FMT, self.out, 0, FT_READ_DATA, FT_ERROR, 0, offset,
                             size, 0)
            self.reply = FT_READ_DATA_SIZE
            self._refuse("offset beyond the end of the file")
            return
        self.total = size
        self._start_chunk(offset, chunk)

    def _start_chunk(self, offset, chunk):
        if chunk > self.chunk_max:
            chunk = self.chunk_max
        if chunk > self.total - offset:
            chunk = self.total - offset
        if self.file is not None:
            self.file.seek(offset)
        self.offset = offset
        self.chunk_left = chunk
        self.header_due = True
        self.state = _READING

    def _read_pacing(self):
        _, status, _, offset, chunk = struct.unpack_from(FT_PACING_FMT, self.cmd, 0)
        if self.state != _READ_WAIT or self.file is None:
            return  # stale pacing: ignore
        if status != FT_OK or offset > self.total:
            self._close()
            self.state = _IDLE
            return
        self._start_chunk(offset, chunk)

    def _write(self):
        _, _, length, offset, mtime, total = struct.unpack_from(FT_WRITE_FMT, self.cmd, 0)
        path = self._path(FT_WRITE_SIZE, length)
        if path is None:
            self._error_reply(FT_WRITE, FT_ERROR, None)
            return
        if offset > total or is_dir(path):
            self._error_reply(FT_WRITE, FT_ERROR, "cannot write there")
            return
        try:
            if offset == 0:
                self.file = open(path, "wb")
            elif exists(path) and os.stat(path)[6] == offset:
                self.file = open(path, "ab")
            else:
                self._error_reply(FT_WRITE, FT_ERROR, "write offset must be 0 or the file size")
                return
        except OSError:
            self._error_reply(FT_WRITE, FT_ERROR, "cannot open the file for writing")
            return
        self.offset = offset
        self.total = total
        self.mtime = mtime
        self._write_pacing()

    def _write_pacing(self):
        left = self.total - self.offset
        free = _WRITE_WINDOW if left > _WRITE_WINDOW else left
        struct.pack_into(FT_WRITE_PACING_FMT, self.out, 0, FT_WRITE_PACING, FT_OK, 0, self.offset,
                         self.mtime, free)
        self.reply = FT_WRITE_PACING_SIZE
        if left == 0:
            self._close()
            self.state = _IDLE
        else:
            self.state = _WRITE_WAIT

    def _write_data(self):
        _, status, _, offset, size = struct.unpack_from(FT_PACING_FMT, self.cmd, 0)
        if self.state != _WRITE_WAIT:
            return
        if status != FT_OK or offset != self.offset or offset + size > self.total:
            self._close()
            self.state = _IDLE
            if status == FT_OK:
                self._error_reply(FT_WRITE, FT_ERROR_PROTOCOL, "write data out of order")
            return
        self.chunk_left = size
        self.state = _WRITING
        if size == 0:
            self._write_pacing()

    def _write_bytes(self, data, i, n):
        k = min(self.chunk_left, n - i)
        f = self.file
        try:
            if f is not None:
                f.write(memoryview(data)[i:i + k])
        except OSError:
            self._close()
            self.state = _IDLE
            self._error_reply(FT_WRITE, FT_ERROR, "write failed (storage full?)")
            return n - i
        self.chunk_left -= k
        self.offset += k
        if self.chunk_left == 0:
            self._write_pacing()
        return k

    # -- output -------------------------------------------------------------------------------
    def _next_packet(self):
        """Build the next packet to notify in self.out; return its length (0: nothing to send)."""
        if self.reply:
            n = self.reply
            self.reply = 0
            return n
        if self.state == _READING:
            return self._next_read_packet()
        if self.state == _LISTING:
            return self._next_list_packet()
        return 0

    def _next_read_packet(self):
        start = 0
        if self.header_due:
            struct.pack_into(FT_READ_DATA_FMT, self.out, 0, FT_READ_DATA, FT_OK, 0, self.offset,
                             self.total, self.chunk_left)
            start = FT_READ_DATA_SIZE
            self.header_due = False
        k = self.payload - start
        if k > self.chunk_left:
            k = self.chunk_left
        f = self.file
        if k > 0:
            if start + k == self.payload:
                view = self.after_head if start else self.full
            else:
                view = self.outv[start:start + k]
            got = f.readinto(view) if f is not None else 0
            if got != k:  # the file shrank under us: stop; the client will time out and retry
                self._close()
                self.state = _IDLE
                return 0
        self.chunk_left -= k
        self.offset += k
        if self.chunk_left == 0:
            if self.offset >= self.total:
                self._close()
                self.state = _IDLE
            else:
                self.state = _READ_WAIT
        return start + k

    def _next_list_packet(self):
        n = self.listing.next_packet(self.outv, self.payload)
        if self.listing.finished():
            self.state = _IDLE
        return n

    def _pump(self):
        while True:
            n = self.held or self._next_packet()
            if n == 0:
                return
            if self.send(self.full if n == self.payload else self.outv[:n]) is False:
                self.held = n
                return
            self.held = 0
            self.bytes_out += n

    def resume(self):
        """Send what the radio refused earlier (call when it can take packets again)."""
        self._pump()

    def busy(self):
        """True while a transfer is in progress on this connection."""
        return self.state != _IDLE or self.held != 0
