"""Shared fixtures: one real 2-worker LocalCluster for the whole session."""

from __future__ import annotations

import logging
import os
import pty

import distributed
import pytest


@pytest.fixture(scope="session")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    """A client on the session cluster; the default client for the test's duration."""
    with distributed.Client(cluster, set_as_default=True) as client:
        yield client


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]


@pytest.fixture
def acme_log():
    """Records everything logged on the "ACME" logger during a test.

    The handler sits on the "ACME" logger itself and the logger's level is DEBUG for the
    test, so what is recorded does not depend on pytest's log capture or on other
    libraries adjusting handler levels (dask-jobqueue silences the log handlers it knows
    of while a cluster starts)."""
    handler = _Records()
    logger = logging.getLogger("ACME")
    saved = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(saved)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test inside a fresh temporary working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def terminal(monkeypatch):
    """A real pseudo-terminal as standard input for the test's duration; the fixture's
    value types text into it (typed-ahead lines wait in the terminal until read)."""
    master, slave = pty.openpty()
    stdin = os.fdopen(slave, "r")
    monkeypatch.setattr("sys.stdin", stdin)

    def type_text(text: str) -> None:
        os.write(master, text.encode())

    yield type_text
    stdin.close()
    os.close(master)
