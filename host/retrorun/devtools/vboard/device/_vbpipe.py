# The host call of the virtual board on the native MicroPython Unix port: one request and one
# answer at a time over two pipes the host passed to the process. A message is a 6-byte header
# (sequence number "<H", length "<I") and UTF-8 text; an answer carries its request's sequence
# number, so an answer left unread by a KeyboardInterrupt (the host's SIGINT for a busy loop) is
# skipped by the next call. Not used on a real board.
import struct

_r = None  # the pipe from the host (a file opened by the bootstrap)
_w = None  # the pipe to the host
_seq = 0


def call(name, msg):
    global _seq
    _seq = (_seq + 1) & 0xFFFF
    data = msg.encode()
    _w.write(struct.pack("<HI", _seq, len(data)) + data)
    while True:
        seq, n = struct.unpack("<HI", _r.read(6))
        answer = _r.read(n) if n else b""
        if seq == _seq:
            return answer.decode()
