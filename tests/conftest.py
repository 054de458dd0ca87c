"""Shared test setup: no test ever reads the developer's own config or demo state."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".state"))
    for variable in ("OPSCONSOLE_CONFIG", "OPSCONSOLE_ENV", "REDIS_URL", "AMQP_URL", "PROMETHEUS_URL"):
        monkeypatch.delenv(variable, raising=False)
    # MONGO_URI is kept only for the real-server suite, which reads it at import time.
    monkeypatch.delenv("MONGO_URI", raising=False)


@pytest.fixture(autouse=True)
def _no_stray_reverters(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A timed actuator force-open starts a detached reverter that outlives its caller on purpose; a test
    must not leave one sleeping for ten minutes after it."""
    from console import breaker_revert

    started = []
    schedule = breaker_revert.schedule

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        process = schedule(*args, **kwargs)
        started.append(process)
        return process

    monkeypatch.setattr(breaker_revert, "schedule", recording)
    yield
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
