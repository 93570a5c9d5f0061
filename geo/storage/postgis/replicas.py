"""Reads routed to PostgreSQL streaming replicas, writes left to the primary.

A read goes to a healthy replica, in turn, that has replayed the write position it must see (waiting a
little for it), else to the primary. A replica that fails is dropped from use at once and probed in the
background with back-off until it answers again. The scope of a request (``geo.storage.consistency``)
pins its reads to one database and carries its client's last write position.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from geo.errors import StoreUnavailable
from geo.storage.consistency import POSITION, PRIMARY, ReadScope, ReplicaState, current_scope

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[psycopg.rows.TupleRow]
PoolFactory = Callable[[str, str], ConnectionPool[Connection]]

_REPLAYED = "SELECT pg_last_wal_replay_lsn()::text"
_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)
_LAG_HOLD_S = 1.0


def lsn_value(text: str | None) -> int:
    """Return a WAL position as a number (0 for None or anything that is not one).

    Examples
    --------
    >>> lsn_value("1/0") > lsn_value("0/FFFFFFFF"), lsn_value(None), lsn_value("x")
    (True, 0, 0)
    """
    if not text or not POSITION.fullmatch(text):
        return 0
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def later(a: str | None, b: str | None) -> str | None:
    """Return the later of two WAL positions (either may be None)."""
    return a if lsn_value(a) >= lsn_value(b) else b


def server_name(dsn: str) -> str:
    """Return ``host:port/dbname`` of a DSN, without its user or password (for logs and status)."""
    info = conninfo_to_dict(dsn)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class _Replica:
    """A replica's pool (None while it is out of use) and its counters."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.name = dsn, server_name(dsn)
        self.pool: ConnectionPool[Connection] | None = None
        self.replayed = 0
        self.reads = 0
        self.lagging_until = 0.0


class ReadRouter:
    """Lend connections for reads from replicas, falling back on the primary.

    Parameters
    ----------
    dsns : the replicas' libpq connection strings or URLs.
    primary : lends a primary connection (``Database.conn``).
    make_pool : builds an unopened pool for a DSN and pool name.
    timeout : seconds to wait for a replica connection or probe before reading from the primary.
    wait_s : longest wait for a replica to replay a position a read must see.
    retry_s : first and longest pause between probes of a replica out of use.
    """

    def __init__(
        self,
        dsns: Sequence[str],
        *,
        primary: Callable[[], AbstractContextManager[Connection]],
        make_pool: PoolFactory,
        timeout: float,
        wait_s: float,
        retry_s: tuple[float, float] = (0.5, 15.0),
    ) -> None:
        self._replicas = [_Replica(dsn) for dsn in dsns]
        self._primary, self._make_pool = primary, make_pool
        self.timeout, self.wait_s, self.retry_s = timeout, wait_s, retry_s
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._turn = 0
        self.primary_reads = 0
        self.floor = self.written = 0
        for replica in self._replicas:
            if not self._bring_back(replica):
                self._probe_later(replica, None, "unreachable at start-up")

    def state(self) -> list[ReplicaState]:
        """Return each replica's state."""
        return [
            ReplicaState(r.name, r.pool is not None, r.reads, _lsn_text(r.replayed) if r.replayed else None)
            for r in self._replicas
        ]

    def close(self) -> None:
        """Stop the probes and close the replicas' pools."""
        self._closed.set()
        for replica in self._replicas:
            pool, replica.pool = replica.pool, None
            if pool is not None:
                pool.close()

    def opened(self, conn: Connection) -> None:
        """Make every read of this router see what the primary holds now (``conn`` is a primary connection)."""
        self.floor = self.written = max(self.written, _current(conn))

    def note_write(self, conn: Connection) -> None:
        """Record where the primary's WAL ends after a commit on ``conn``, for the reads that must see it.

        In a request it goes to the request's scope: its later reads must see it, and the server hands it to
        the client. Outside any request it goes to the router, so a command reads what it wrote.
        """
        position = _current(conn)
        scope = current_scope()
        if scope is not None:
            scope.wrote = later(scope.wrote, _lsn_text(position))
            scope.after = later(scope.after, scope.wrote)
        else:
            with self._lock:
                self.written = max(self.written, position)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Lend a connection for a read: a replica that has replayed what the read must see, else the primary."""
        scope = current_scope()
        for replica in self._choices(scope):
            lent = self._lend(replica, self._after(scope))
            if lent is None:
                continue
            if scope is not None:
                scope.source = replica.name
            replica.reads += 1
            with self._lent(replica, *lent):
                yield lent[1]
            return
        if scope is not None:
            scope.source = PRIMARY
        self.primary_reads += 1
        with self._primary() as conn:
            yield conn

    def _after(self, scope: ReadScope | None) -> int:
        """Return the position a read must see: the client's last write, or this process's own."""
        if scope is None:
            return self.written
        return max(self.floor, lsn_value(scope.after))

    def _choices(self, scope: ReadScope | None) -> list[_Replica]:
        """Return the replicas to try, in order: the pinned one alone, or every one in use, in turn."""
        if scope is not None and scope.primary:
            return []
        if scope is not None and scope.source is not None:
            return [r for r in self._replicas if r.name == scope.source and r.pool is not None]
        with self._lock:
            self._turn += 1
            turn = self._turn
        count = len(self._replicas)
        return [self._replicas[(turn + i) % count] for i in range(count) if self._replicas[(turn + i) % count].pool]

    def _lend(self, replica: _Replica, after: int) -> tuple[ConnectionPool[Connection], Connection] | None:
        """Return a pool and connection of ``replica`` that sees position ``after``; None if it is behind or failed."""
        pool = replica.pool
        if pool is None:
            return None
        try:
            conn = pool.getconn(timeout=self.timeout)
        except PoolTimeout:
            # A pool times out both when every connection is busy and when the server is gone: ask directly.
            if not self._answers(replica.dsn):
                self._drop(replica, "it stopped answering")
            return None
        try:
            if after > replica.replayed and not self._caught_up(replica, conn, after):
                pool.putconn(conn)
                return None
        except psycopg.Error as exc:
            pool.putconn(conn)
            self._drop(replica, str(exc))
            return None
        return pool, conn

    def _caught_up(self, replica: _Replica, conn: Connection, after: int) -> bool:
        """Wait up to ``wait_s`` for the replica to replay position ``after``; return whether it did.

        A replica found lagging is asked once, without waiting, for the next second: while it is far
        behind, reads that need more go to the primary at once instead of each waiting ``wait_s``.
        """
        now = time.monotonic()
        deadline, pause = (now if now < replica.lagging_until else now + self.wait_s), 0.002
        while True:
            row = conn.execute(_REPLAYED).fetchone()
            if row is None or row[0] is None:
                return False  # not a standby (promoted?): nothing says it holds the primary's writes
            replica.replayed = max(replica.replayed, lsn_value(row[0]))
            if replica.replayed >= after:
                return True
            if time.monotonic() + pause > deadline:
                replica.lagging_until = time.monotonic() + _LAG_HOLD_S
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    @contextmanager
    def _lent(self, replica: _Replica, pool: ConnectionPool[Connection], conn: Connection) -> Iterator[None]:
        """Give ``conn`` back to ``pool`` after the read; a lost connection drops the replica from use."""
        try:
            yield
        except _CONNECTION_ERRORS as exc:
            if conn.broken:
                self._drop(replica, str(exc))
            raise StoreUnavailable(f"replica {replica.name} failed during a read: {exc}") from exc
        finally:
            pool.putconn(conn)  # closed instead when the pool was closed meanwhile

    def _answers(self, dsn: str) -> bool:
        """Return whether a new connection to ``dsn`` answers a query within the timeout."""
        try:
            with psycopg.connect(dsn, connect_timeout=max(int(self.timeout), 1), autocommit=True) as conn:
                conn.execute(_REPLAYED).fetchone()
        except psycopg.Error:
            return False
        return True

    def _drop(self, replica: _Replica, why: str) -> None:
        """Take ``replica`` out of use and probe it in the background until it answers again."""
        with self._lock:
            pool, replica.pool = replica.pool, None
        if pool is not None:  # else another thread dropped it first
            self._probe_later(replica, pool, why)

    def _probe_later(self, replica: _Replica, old: ConnectionPool[Connection] | None, why: str) -> None:
        """Start the background probe of a replica out of use."""
        logger.warning("replica %s out of use for reads: %s", replica.name, why)
        threading.Thread(target=self._probe, args=(replica, old), name=f"probe {replica.name}", daemon=True).start()

    def _probe(self, replica: _Replica, old: ConnectionPool[Connection] | None) -> None:
        """Close the replica's old pool, then try it with growing pauses until it is back or the router closes."""
        if old is not None:
            old.close()
        pause, longest = self.retry_s
        while not self._closed.wait(pause):
            if self._bring_back(replica):
                logger.warning("replica %s back in use", replica.name)
                return
            pause = min(pause * 2, longest)

    def _bring_back(self, replica: _Replica) -> bool:
        """Open a pool on ``replica`` when it answers; return whether it is in use again."""
        if not self._answers(replica.dsn):
            return False
        pool = self._make_pool(replica.dsn, f"planmap-replica-{replica.name}")
        try:
            pool.open(wait=True, timeout=self.timeout)
        except (PoolTimeout, psycopg.Error):
            pool.close()
            return False
        if self._closed.is_set():
            pool.close()
            return False
        replica.pool = pool
        return True


def _current(conn: Connection) -> int:
    """Return the primary's WAL write position read on ``conn``."""
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    return lsn_value(row[0] if row else None)


def _lsn_text(value: int) -> str:
    """Format a WAL position number as PostgreSQL does.

    Examples
    --------
    >>> _lsn_text(lsn_value("1/3000148"))
    '1/3000148'
    """
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
