"""`retrorun bench` with out-of-range numbers: refused before any work starts."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("argv, message", [
    (["sync", "--baud", "0"], "--baud 0 is out of range; give 300-5000000 (a UART's rates)"),
    (["sync", "--baud", "-5"], "--baud -5 is out of range; give 300-5000000 (a UART's rates)"),
    (["sync", "--minutes", "0"], "--minutes 0 is out of range; give at least 1"),
    (["logs", "--seconds", "0"], "--seconds 0 is out of range; give 1-86400 (a day)"),
    (["logs", "--seconds", "-3"], "--seconds -3 is out of range; give 1-86400 (a day)"),
    (["logs", "--snapshot-hz", "0"], "--snapshot-hz 0 is out of range; give 1-1000"),
])
def test_out_of_range(fails, argv, message):
    assert fails(["bench", *argv]) == f"retrorun: {message}"


def test_bench_obstacles_negative_seeds(capsys):
    from retrorun.cli.main import main

    assert main(["bench", "obstacles", "--seeds", "-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("retrorun: --seeds -1 is negative") and err.count("\n") == 1
