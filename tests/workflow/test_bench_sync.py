"""The sync benchmark really moves the sessions through a counted 115200 baud line."""

import pytest

from retrorun.devtools.benchmarks.sync import TARGET_EFFICIENCY, measure

pytestmark = pytest.mark.slow


def test_bench_sync_counts_bytes_and_meets_the_efficiency_target():
    figures = measure(minutes=20)
    payload = figures["payload_bytes"]
    assert figures["sessions"] == 2 and payload > 2000
    # byte counts are deterministic: efficiency is a property of the protocol, not the clock
    assert figures["retrorun"]["wire_bytes"] > payload
    assert figures["summary"]["efficiency"] >= TARGET_EFFICIENCY
    assert figures["mpremote"]["wire_bytes"] > 2 * payload  # repr() of binary chunks
    assert figures["retrorun"]["seconds"] > 0 and figures["mpremote"]["seconds"] > 0
