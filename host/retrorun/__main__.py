"""`python -m retrorun` runs the command-line tool."""

from retrorun.cli.main import run

run()
