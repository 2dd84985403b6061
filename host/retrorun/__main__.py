"""`python -m retrorun` runs the command-line tool."""

from retrorun.cli import run

run()
