"""The private Redis harness works: its own server per test, stop/crash/restart on the same port, credentials,
replication, memory limits — and nothing left behind. The shared instance on 127.0.0.1:6379 is never used.

Skipped, with the reason, when `redis-server` is not installed (CI installs the Debian package).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.fixtures.redis_server import (
    PROCESS_MARKER,
    REDIS_SERVER_MISSING,
    PrivateRedis,
    RedisServerError,
    find_redis_server,
    leftover_servers,
    make_redis_fixture,  # noqa: F401 - registers the make_redis fixture
    ping_raw,
    replica_of,
    requires_redis_server,
)

pytestmark = requires_redis_server

SHARED_PORT = 6379
OPS_RULE = "ops on >s3cret ~* +@all"
# redis-py 8 retries a refused connection or a failed AUTH 10 times (~4 s): negative checks fail at once instead.
NO_RETRY = Retry(NoBackoff(), 0)


def assert_gone(server: PrivateRedis, pid: int | None, port: int, workdir: Path | None) -> None:
    """No process, no listener, no directory left by `server` (closed)."""
    assert not server.running
    assert server.workdir is None
    if workdir is not None:
        assert not workdir.exists(), f"temp dir left behind: {workdir}"
    if pid is not None:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped, not a zombie
    assert leftover_servers(port) == []
    with pytest.raises(ConnectionRefusedError):
        ping_raw(port)


@pytest.fixture(name="leak_check")
def leak_check_fixture() -> Iterator[list[PrivateRedis]]:
    """Request BEFORE `make_redis`: torn down after it, checks every server the factory made was cleaned up."""
    made: list[PrivateRedis] = []
    yield made
    for server in made:
        assert_gone(server, None, server.port, None)


def test_start_set_get_and_addresses(leak_check: list[PrivateRedis], make_redis: Callable[..., PrivateRedis]) -> None:
    server = make_redis()
    leak_check.append(server)

    assert server.port not in (0, SHARED_PORT)
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert server.running and server.ready_after < 10
    client = server.client()
    assert client.ping() is True
    client.set(b"greeting", b"hello")
    assert client.get(b"greeting") == b"hello"  # bytes: decode_responses=False
    assert redis.Redis.from_url(server.url).get("greeting") == b"hello"
    # redis-py 8 hands CONFIG GET back as str even with decode_responses=False.
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}
    assert client.config_get("protected-mode") == {"protected-mode": "yes"}
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    assert server.data_dir.is_dir() and server.log_path.is_file()
    assert PROCESS_MARKER in Path(f"/proc/{server.pid}/cmdline").read_text()


def test_stop_refuses_then_start_on_same_port_is_empty(
    leak_check: list[PrivateRedis], make_redis: Callable[..., PrivateRedis]
) -> None:
    server = make_redis()
    leak_check.append(server)
    port, first_pid = server.port, server.pid
    client = server.client()
    client.set(b"session:1", b"alive")

    server.stop()
    assert not server.running and server.port == port
    with pytest.raises(ConnectionRefusedError):
        ping_raw(port)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert leftover_servers(port) == []

    server.start()
    assert server.port == port and server.pid != first_pid
    assert ping_raw(port) == b"+PONG"
    fresh = server.client()
    assert fresh.ping() is True
    assert fresh.get(b"session:1") is None  # nothing persisted across the restart
    assert fresh.dbsize() == 0
    # The client made before the restart reconnects by itself (redis-py retries on a dead pooled connection).
    assert client.get(b"session:1") is None


def test_kill9_then_start(leak_check: list[PrivateRedis], make_redis: Callable[..., PrivateRedis]) -> None:
    server = make_redis()
    leak_check.append(server)
    port, pid = server.port, server.pid
    assert pid is not None
    server.client().set(b"k", b"v")

    server.kill9()
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError):
        ping_raw(port)

    server.start()
    assert server.port == port
    assert server.client().get(b"k") is None
    assert "### " in server.log_tail(200)  # both runs share one log, each headed by its command line


def test_start_retries_while_the_port_is_briefly_busy(leak_check: list[PrivateRedis]) -> None:
    server = PrivateRedis()
    leak_check.append(server)
    with server:
        port = server.port
        server.stop()
        squatter = socket.socket()
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        release = threading.Timer(0.3, squatter.close)
        release.start()
        try:
            server.start()
        finally:
            release.cancel()
            squatter.close()
        assert server.port == port
        assert server.client().ping() is True
        assert "Address already in use" in server.log_tail(200)


def test_restart_on_a_port_that_stays_busy_fails_with_the_log(leak_check: list[PrivateRedis]) -> None:
    server = PrivateRedis()
    leak_check.append(server)
    with server:
        port = server.port
        server.stop()
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            with pytest.raises(RedisServerError, match="Address already in use"):
                server.start(attempts=2)
        assert not server.running and server.workdir is not None  # a failed RE-start keeps the object usable
        server.start()
        assert server.port == port


def test_bad_configuration_fails_fast_with_the_log_tail_and_cleans_up() -> None:
    server = PrivateRedis(maxmemory_policy="no-such-policy")
    with pytest.raises(RedisServerError, match="exited with 1") as failure:
        server.start()
    assert "maxmemory-policy" in str(failure.value)
    assert server.workdir is None and not server.running


def test_password_refuses_anonymous_and_accepts_url_credentials(
    leak_check: list[PrivateRedis], make_redis: Callable[..., PrivateRedis]
) -> None:
    server = make_redis(password="p@ss/w:rd")
    leak_check.append(server)

    assert server.url == f"redis://:p%40ss%2Fw%3Ard@127.0.0.1:{server.port}/0"
    assert ping_raw(server.port).startswith(b"-NOAUTH")
    with redis.Redis.from_url(server.url_for(credentials=False), retry=NO_RETRY) as anonymous:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    with redis.Redis(host="127.0.0.1", port=server.port, password="nope", retry=NO_RETRY) as wrong:
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()

    assert server.client().ping() is True
    with redis.Redis.from_url(server.url) as client:
        client.set(b"x", b"1")
        assert client.acl_whoami() == "default"  # str in redis-py 8
    assert server.info("server")["tcp_port"] == server.port


@pytest.mark.parametrize("acl_file", [False, True], ids=["user-args", "acl-file"])
def test_acl_user(acl_file: bool, leak_check: list[PrivateRedis], make_redis: Callable[..., PrivateRedis]) -> None:
    server = make_redis(users=[OPS_RULE, "default off"], acl_file=acl_file)
    leak_check.append(server)

    assert server.auth == ("ops", "s3cret")
    assert server.url == f"redis://ops:s3cret@127.0.0.1:{server.port}/0"
    assert ("--aclfile" in server.command_line()) is acl_file
    if acl_file:
        assert server.acl_path.read_text() == f"user {OPS_RULE}\nuser default off\n"

    with redis.Redis(host="127.0.0.1", port=server.port, retry=NO_RETRY) as anonymous:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()  # the default user is off
    with redis.Redis(host="127.0.0.1", port=server.port, username="ops", password="no", retry=NO_RETRY) as wrong:
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()

    client = server.client()
    assert client.acl_whoami() == "ops"
    client.set(b"ops:key", b"1")
    assert client.get(b"ops:key") == b"1"
    users = [line.decode() if isinstance(line, bytes) else line for line in client.acl_list()]  # str in redis-py 8
    assert any(line.startswith("user ops on") for line in users)
    assert any(line.startswith("user default off") for line in users)


def test_replica_links_up_and_replicates(
    leak_check: list[PrivateRedis], make_redis: Callable[..., PrivateRedis]
) -> None:
    primary = make_redis()
    replica = make_redis(replica_of=primary)
    leak_check += [primary, replica]

    assert replica.port not in (primary.port, SHARED_PORT)
    info = replica.info("replication")
    assert info["role"] == "slave"
    assert info["master_link_status"] == "up"
    assert info["master_port"] == primary.port
    assert primary.info("replication")["connected_slaves"] == 1

    primary.client().set(b"replicated", b"yes")
    replica_client = replica.client()
    assert replica.wait_until("the key on the replica", lambda: replica_client.get(b"replicated")) == b"yes"
    with pytest.raises(redis.ReadOnlyError):
        replica_client.set(b"on-replica", b"no")


def test_replica_of_password_protected_primary_and_context_manager() -> None:
    with PrivateRedis(users=[OPS_RULE, "default off"]) as primary:
        with replica_of(primary) as replica:
            assert "--masteruser" in replica.command_line() and "--masterauth" in replica.command_line()
            assert replica.info("replication")["master_link_status"] == "up"
            primary.client().set(b"a", b"1")
            assert replica.wait_until("replication", lambda: replica.client().get(b"a")) == b"1"
            replica_pid, replica_port, replica_dir = replica.pid, replica.port, replica.workdir
        assert_gone(replica, replica_pid, replica_port, replica_dir)
        assert primary.running


def test_maxmemory_settings_visible_in_info(
    leak_check: list[PrivateRedis], make_redis: Callable[..., PrivateRedis]
) -> None:
    server = make_redis(maxmemory="10mb", maxmemory_policy="allkeys-lru")
    leak_check.append(server)

    memory = server.info("memory")
    assert memory["maxmemory"] == 10 * 1024 * 1024
    assert memory["maxmemory_human"] == "10.00M"
    assert memory["maxmemory_policy"] == "allkeys-lru"
    assert server.client().config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}


def test_close_leaves_no_process_and_no_directory() -> None:
    server = PrivateRedis(password="x")
    with server:
        pid, port, workdir = server.pid, server.port, server.workdir
        assert workdir is not None and workdir.is_dir()
        assert leftover_servers(port) == [pid]
        server.client().ping()
    assert_gone(server, pid, port, workdir)
    server.close()  # idempotent


def test_close_after_kill9_and_after_stop() -> None:
    crashed = PrivateRedis().start()
    pid, port, workdir = crashed.pid, crashed.port, crashed.workdir
    crashed.kill9()
    crashed.close()
    assert_gone(crashed, pid, port, workdir)

    stopped = PrivateRedis().start()
    pid, port, workdir = stopped.pid, stopped.port, stopped.workdir
    stopped.stop()
    stopped.close()
    assert_gone(stopped, pid, port, workdir)


def test_skips_with_a_clear_reason_without_redis_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("redis-server") is None
    with pytest.raises(pytest.skip.Exception, match="redis-server binary not installed"):
        find_redis_server()
    with pytest.raises(pytest.skip.Exception) as skipped:
        PrivateRedis()
    assert str(skipped.value.msg) == REDIS_SERVER_MISSING
