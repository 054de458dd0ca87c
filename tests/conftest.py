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
