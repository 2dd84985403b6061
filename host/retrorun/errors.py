"""The one error type of the laptop tool.

Library code raises `RetrorunError("what went wrong; what to do")`; the CLI prints it as a single
line `retrorun: ...` on stderr and exits with status 1. Anything else escaping is a bug.
"""


class RetrorunError(Exception):
    """A failure the user can act on. The message is one line: what went wrong and what to do."""

    exit_status = 1


SIM_EXTRA = "pip install 'retrorun[sim]'"


def require_sim(module: str, what: str) -> None:
    """Raise a one-line error when `module` of the `sim` extra (the virtual board, simulator,
    benches and demo run real MicroPython on the laptop) is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise RetrorunError(f"{what} needs the package behind '{module}', which is not "
                            f"installed; install the simulation extra: {SIM_EXTRA}")
