"""A virtual board serving its console on a loopback socket:// port for the length of a test."""

from __future__ import annotations

import contextlib
import threading


@contextlib.contextmanager
def served_vboard(**options):
    """`VirtualBoard(listen="socket", **options)` served from a thread; stopped and closed after."""
    from retrorun.devtools.vboard.board import VirtualBoard

    vb = VirtualBoard(listen="socket", **options)
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    try:
        yield vb
    finally:
        vb.stop()
        thread.join(timeout=10)
        vb.close()
