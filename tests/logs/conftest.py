"""Fixtures for the session log tests: sessions recorded by the device code under CPython."""

from __future__ import annotations

import pytest
from logs_support import record_session


@pytest.fixture(scope="module")
def session_bytes(tmp_path_factory):
    return record_session(tmp_path_factory.mktemp("rec"))
