"""Command modules of the CLI: each has `register(subparsers)`; see retrorun.cli.main.COMMANDS."""
