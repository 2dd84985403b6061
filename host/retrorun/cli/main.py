"""The `retrorun` command line: a table of commands, each a thin layer over the library.

Each command module in `COMMANDS` has `register(subparsers)`, which adds its parser and sets
`func` to a handler taking the parsed arguments and returning an exit status. Errors the user
can act on are `RetrorunError`s, printed as one line `retrorun: ...` with exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from retrorun import __version__
from retrorun.errors import RetrorunError

# Command modules, in the order `retrorun --help` lists them. A module that does not exist
# (yet) is skipped, so only implemented commands appear.
_ALL_COMMANDS = (
    "devices", "flash", "deploy", "config", "status", "sync", "sessions", "report", "export",
    "trends", "reset", "monitor", "pair", "logs", "sim", "bench", "steps", "vboard", "demo", "boards",
)
COMMANDS = tuple(
    f"retrorun.cli.commands.{name}" for name in _ALL_COMMANDS
    if importlib.util.find_spec(f"retrorun.cli.commands.{name}") is not None
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors in the tool's error format."""

    def error(self, message: str):  # type: ignore[override]
        raise RetrorunError(f"{message} (see '{self.prog} --help')")

    def _check_value(self, action, value):  # argparse's hook for every value with choices
        if action.choices is None or value in action.choices:
            return super()._check_value(action, value)
        from retrorun.cli.output import did_you_mean

        choices = [str(c) for c in action.choices]
        if isinstance(action, argparse._SubParsersAction):
            message = (f"unknown command '{value}'" if self.prog == "retrorun" else
                       f"unknown action '{value}' for '{self.prog}'")
        else:
            message = f"invalid {'/'.join(action.option_strings) or action.dest} '{value}'"
        hint = did_you_mean(str(value), choices)
        raise argparse.ArgumentError(None, message + (hint or f"; choose from {', '.join(choices)}"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="retrorun",
        description="Laptop tool for the retrorun obstacle buzzer for backward runners.",
    )
    parser.add_argument("--version", action="version", version=f"retrorun {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMANDS:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "func"):
            parser.print_help()
            return 0
        return int(args.func(args) or 0)
    except RetrorunError as exc:
        sys.stdout.flush()
        print(f"retrorun: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("retrorun: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    """Console-script entry point.

    Exits with os._exit after flushing: wasmtime's WASI worker threads panic noisily on stderr
    when the interpreter finalises after MicroPython ran, which would garble one-line errors.
    """
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
