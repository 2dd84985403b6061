"""`retrorun monitor` reads the app's live console lines."""

from retrorun.link.monitor import parse_line


def test_parse_line():
    live = parse_line(b"@rr 2310 2 172 345 0 3920 1\r\n")
    assert live is not None
    assert (live.distance_mm, live.level_name, live.cadence, live.steps) == (2310, "warning",
                                                                           172, 345)
    assert live.recording and live.fault_name == ""
    assert parse_line(b"@rr 2310 2 172 345 5 3920 1").fault_name == "blinded"


def test_other_console_lines_are_not_live_lines():
    for line in (b">>> ", b"@rr 1 2 3", b"@rr a b c d e f g", b"retrorun: closed session 1",
                 b"Traceback (most recent call last):"):
        assert parse_line(line) is None
