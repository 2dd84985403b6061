"""Shared wire definitions of the USB console (beside the REPL): the app's live lines and the
laptop's requests to the running app (retrofw.usbctl, host ConsoleTransport). Host and device
import this very file, as retrofw.wire (docs/device-api.md, "Console requests").
"""

try:
    from micropython import const
except ImportError:  # CPython: const() is the identity

    def const(x):
        return x


# Requests on the USB console while the app runs (retrofw.usbctl; docs/device-api.md). The host
# writes "#rr <seq> <op> <JSON array of arguments>\n" (a comment to a board at its REPL); the app
# answers "@rq <seq> <JSON>\n"; read() first sends "@rq <seq> d <base64>\n" data lines of at most
# CON_DATA_MAX bytes each, then {"ok":true,"offset":o,"size":n,"crc":crc32}. Live lines go on.
CON_VERSION = const(1)
CON_REQUEST = "#rr"
CON_ANSWER = "@rq"
CON_DATA = "d"
CON_LINE_MAX = const(512)  # longest request line (a config_set with many keys fits)
CON_DATA_MAX = const(192)  # bytes per data line: ~23 ms at 115200 baud, between motor ticks
LIVE_PREFIX = "@rr"  # the app's live lines on the USB console (retrorun monitor reads them)
