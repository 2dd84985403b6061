"""The one error type of the laptop tool.

Library code raises `RetrorunError("what went wrong; what to do")`; the CLI prints it as a single
line `retrorun: ...` on stderr and exits with status 1. Anything else escaping is a bug.
"""


class RetrorunError(Exception):
    """A failure the user can act on. The message is one line: what went wrong and what to do."""

    exit_status = 1
