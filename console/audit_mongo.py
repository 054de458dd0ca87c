"""The team's shared audit journal in MongoDB: a mirror of the local JSON Lines journal.

`MongoMirror` inserts every record (the same document as the journal line, `_id` = the record's `id`) on
a background daemon thread fed by a queue, so the console never waits for the network. A record that
cannot be inserted is not dropped: it goes to a spool file next to the local journal
(`audit.mongo-pending.jsonl`), retried oldest first when a mirror starts, before the next record, and every
`retry_interval` seconds while it is not empty; delivered records are then removed from the spool. The
`_id` makes every retry idempotent: a duplicate key means "already stored" and counts as delivered.

Several consoles of one operator share the spool; every change to it happens under an exclusive `flock`,
and a rewrite only removes the records its own writer confirmed, so no console can drop another's.

This module imports pymongo; `console.audit.audit_log_for` imports it only when a shared journal is set.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bson.errors import InvalidDocument
from pymongo import DESCENDING, MongoClient
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WriteError,
)

from console.audit import AuditError, AuditFilter
from console.config import MongoConfig
from console.sanitize import clean
from console.secrets import redact_text, url_password

_STOP = object()


def split_namespace(namespace: str) -> tuple[str, str]:
    """`"ops.audit"` → `("ops", "audit")`; the collection may itself contain dots."""
    database, _, collection = namespace.partition(".")
    if not database or not collection:
        raise ValueError(f'expected "database.collection", got {namespace!r}')
    return database, collection


def document_id(document: Mapping[str, Any]) -> str:
    """The record's `id`; for a document without one, a hash of its content (equally stable across retries)."""
    value = document.get("id")
    if isinstance(value, str) and value:
        return value
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def make_client(config: MongoConfig) -> MongoClient[dict[str, Any]]:
    """A synchronous client whose every wait is bounded by the configured timeout."""
    timeout_ms = max(1, int(config.timeout * 1000))
    return MongoClient(
        config.uri,
        appname="opsconsole",
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        timeoutMS=timeout_ms,
        maxPoolSize=2,
    )


def describe(exc: BaseException, secret: str = "") -> str:
    """A short, single-line, password-free account of a pymongo failure."""
    if isinstance(exc, ConnectionFailure):
        kind = "unreachable"
    elif isinstance(exc, ConfigurationError):
        kind = "configuration"
    elif isinstance(exc, WriteError):
        kind = f"record rejected (code {exc.code})"
    elif isinstance(exc, OperationFailure):
        kind = f"refused (code {exc.code})"
    else:
        kind = type(exc).__name__
    text = redact_text(str(exc), (secret,) if secret else ())
    # pymongo appends a long topology description; the first clause is the useful part.
    text = text.split(", Timeout:")[0].split(", Topology Description")[0]
    return clean(f"{kind}: {text}", 200)


class Spool:
    """JSON Lines of documents not yet stored in the shared journal; safe for several processes (flock)."""

    def __init__(self, path: Path):
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    current = False
            except BaseException:
                os.close(fd)
                raise
            if current:
                break
            os.close(fd)  # another process replaced the file while we waited: lock the new one
        try:
            yield fd
        finally:
            os.close(fd)  # also releases the lock

    @staticmethod
    def _read(fd: int) -> list[dict[str, Any]]:
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        documents = []
        for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash; the local journal still holds the record
            if isinstance(document, dict):
                documents.append(document)
        return documents

    @staticmethod
    def _encode(documents: Iterable[Mapping[str, Any]]) -> bytes:
        return "".join(json.dumps(doc, ensure_ascii=True, sort_keys=True) + "\n" for doc in documents).encode()

    def read(self) -> list[dict[str, Any]]:
        """Every spooled document, oldest first."""
        if not self.path.exists():
            return []
        with self._locked() as fd:
            return self._read(fd)

    def count(self) -> int:
        return len(self.read())

    def append(self, documents: Iterable[Mapping[str, Any]]) -> int:
        data = self._encode(documents)
        if not data:
            return 0
        with self._locked() as fd:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        return data.count(b"\n")

    def remove(self, delivered: set[str]) -> int:
        """Drop the documents whose id is in `delivered` (whoever appended them); returns how many remain."""
        with self._locked() as fd:
            documents = self._read(fd)
            remaining = [doc for doc in documents if document_id(doc) not in delivered]
            if len(remaining) == len(documents):
                return len(remaining)
            if not remaining:
                os.ftruncate(fd, 0)
                os.fsync(fd)
                return 0
            # Atomic rewrite: a crash leaves either the old spool or the new one, never half of one.
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp_fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(tmp_fd, self._encode(remaining))
                os.fsync(tmp_fd)
            finally:
                os.close(tmp_fd)
            os.replace(temporary, self.path)
            return len(remaining)


class _Failure(Exception):
    def __init__(self, message: str, per_record: bool):
        super().__init__(message)
        self.message = message
        self.per_record = per_record  # this document was refused; others may still go through


class MongoMirror:
    """Copies audit records into `config.audit` ("database.collection") without ever blocking the caller.

    `pending`: records handed over or spooled and not yet confirmed stored. `last_error`: why the mirror is
    behind (password-free), None when it is not. `flush(timeout)` waits for the queue to be worked off and
    says whether everything is stored; `close()` stops the thread, spooling whatever it could not finish.
    """

    def __init__(self, config: MongoConfig, spool: Path, *, retry_interval: float = 30.0):
        self._database, self._collection_name = split_namespace(config.audit)
        self.name = f"MongoDB {config.audit}"
        self.spool = Spool(spool)
        self._config = config
        self._secret = url_password(config.uri) or ""
        self._retry_interval = retry_interval
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._starting = True  # the spool left by earlier runs is being retried
        self._submitted = 0
        self._handled = 0
        self._spooled = 0
        self._lost = 0
        self._in_flight: dict[str, Any] | None = None
        self._error: str | None = None
        self._spool_error: str | None = None
        self._closed = False
        self._client: MongoClient[dict[str, Any]] | None = None
        self._thread = threading.Thread(target=self._run, name=f"opsconsole-audit {config.audit}", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # --- what callers see --------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        with self._cond:
            return self._submitted - self._handled + self._spooled

    @property
    def last_error(self) -> str | None:
        with self._cond:
            parts = [self._error] if self._error else []
            if self._lost:
                parts.append(
                    f"{self._lost} record(s) could not be spooled ({self._spool_error}) and are only in the local "
                    "journal"
                )
            return "; ".join(parts) or None

    def submit(self, document: dict[str, Any]) -> None:
        """Queue one record (the journal line as a dict); returns at once."""
        with self._cond:
            closed = self._closed
            if not closed:
                self._submitted += 1
        if closed:
            self._to_spool([document])  # after close(): keep it for the next start
            return
        self._queue.put(dict(document))

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every submitted record to be handled; True if all are stored."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._starting or self._handled < self._submitted:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(left)
            return self._spooled == 0 and self._lost == 0

    def close(self, timeout: float | None = None) -> None:
        """Stop the thread; what it has not finished within `timeout` goes to the spool (nothing is lost)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        self._queue.put(_STOP)
        self._thread.join(self._config.timeout + 1.0 if timeout is None else timeout)
        if not self._thread.is_alive():
            return
        # Still busy (a slow server): spool the in-flight record and the queue. Should the thread still
        # deliver one of them, the spooled copy is a duplicate key later, which counts as delivered.
        with self._cond:
            leftovers = [self._in_flight] if self._in_flight is not None else []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, dict):
                leftovers.append(item)
        self._to_spool(leftovers)
        with self._cond:
            self._handled = self._submitted
            self._cond.notify_all()

    # --- the background thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            try:
                self._drain()
            finally:
                with self._cond:
                    self._starting = False
                    self._cond.notify_all()
            while True:
                with self._cond:
                    wait = self._retry_interval if self._spooled else None
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    self._drain()
                    continue
                if item is _STOP:
                    break
                if isinstance(item, dict):
                    self._deliver(item)
        except Exception as exc:  # a bug must show, not silently stop the shared journal
            self._set_error(f"mirror stopped: {describe(exc, self._secret)}")
        finally:
            client, self._client = self._client, None
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()

    def _deliver(self, document: dict[str, Any]) -> None:
        with self._cond:
            self._in_flight = document
        try:
            if self._spooled and not self._drain():
                self._to_spool([document])  # older records first; the server just failed, do not wait again
                return
            try:
                self._insert(document)
            except _Failure as failure:
                self._set_error(failure.message)
                self._to_spool([document])
            else:
                with self._cond:
                    if not self._spooled:
                        self._error = None
        except Exception as exc:  # never lose the record to a bug in the delivery path
            self._set_error(describe(exc, self._secret))
            self._to_spool([document])
        finally:
            with self._cond:
                self._in_flight = None
                self._handled += 1
                self._cond.notify_all()

    def _drain(self) -> bool:
        """Retry the spool, oldest first; False when the server could not be reached."""
        try:
            documents = self.spool.read()
        except OSError as exc:
            self._set_error(f"cannot read spool {self.spool.path}: {exc.strerror or exc}")
            return False
        if not documents:
            with self._cond:
                self._spooled = 0
            return True
        delivered: set[str] = set()
        failure: str | None = None
        reachable = True
        for document in documents:
            try:
                self._insert(document)
            except _Failure as problem:
                failure = problem.message
                if not problem.per_record:
                    reachable = False
                    break
                continue  # this one stays spooled; it does not hold back the others
            delivered.add(document_id(document))
        remaining = len(documents)
        if delivered:
            try:
                remaining = self.spool.remove(delivered)
            except OSError as exc:  # they will be sent again, harmlessly (duplicate key = delivered)
                failure = f"cannot rewrite spool {self.spool.path}: {exc.strerror or exc}"
        with self._cond:
            self._spooled = remaining
            self._error = failure
        return reachable

    def _collection(self) -> Any:
        if self._client is None:
            try:
                self._client = make_client(self._config)
            except (ConfigurationError, ValueError, TypeError) as exc:
                raise _Failure(describe(exc, self._secret), per_record=False) from None
        return self._client[self._database][self._collection_name]

    def _insert(self, document: Mapping[str, Any]) -> None:
        body = dict(document)
        body["_id"] = document_id(document)
        collection = self._collection()
        try:
            collection.insert_one(body)
        except DuplicateKeyError:
            return  # stored by an earlier attempt whose acknowledgement was lost
        except (WriteError, InvalidDocument, OverflowError) as exc:
            raise _Failure(describe(exc, self._secret), per_record=True) from None
        except PyMongoError as exc:
            raise _Failure(describe(exc, self._secret), per_record=False) from None

    def _to_spool(self, documents: list[dict[str, Any]]) -> None:
        if not documents:
            return
        try:
            self.spool.append(documents)
        except OSError as exc:
            with self._cond:
                self._lost += len(documents)
                self._spool_error = clean(f"cannot write {self.spool.path}: {exc.strerror or exc}", 200)
            return
        with self._cond:
            self._spooled += len(documents)

    def _set_error(self, message: str) -> None:
        with self._cond:
            self._error = message


def read_shared(config: MongoConfig, where: AuditFilter, last: int) -> list[dict[str, Any]]:
    """The newest `last` matching records of the shared journal (0 = all), oldest first.

    Filtering, sorting and limiting happen on the server, within the configured timeout. Raises
    `AuditError` with a one-line, password-free message when the journal cannot be read.
    """
    database, collection = split_namespace(config.audit)
    secret = url_password(config.uri) or ""
    where_from = f"shared journal (MongoDB {config.audit})"
    try:
        client = make_client(config)
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise AuditError(f"{where_from}: {describe(exc, secret)}") from None
    try:
        cursor = client[database][collection].find(
            where.mongo_query(),
            sort=[("at", DESCENDING)],
            limit=max(0, last),
            max_time_ms=max(1, int(config.timeout * 1000)),
        )
        documents = list(cursor)
    except PyMongoError as exc:
        raise AuditError(f"{where_from}: {describe(exc, secret)}") from None
    finally:
        client.close()
    for document in documents:
        document.pop("_id", None)
    documents.reverse()
    return documents
