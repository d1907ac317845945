"""The durable point queue: SQLite in WAL mode, plus a dead-letter table for hopeless points."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
import logging
from pathlib import Path
import sqlite3
import threading
import time

_LOGGER = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids never reused, so order is arrival order
    line TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    line TEXT NOT NULL,
    reason TEXT NOT NULL,
    status INTEGER,
    at REAL NOT NULL
);
-- Points that came too late for the downsampling tasks, waiting to be aggregated in Python
-- (bridge.backfill). Same ids as in the queue, so arrival order is kept.
CREATE TABLE IF NOT EXISTS backfill (
    id INTEGER PRIMARY KEY,
    series TEXT NOT NULL,
    ts INTEGER NOT NULL,  -- epoch ms
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS backfill_series_ts ON backfill (series, ts);
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One queued line of line protocol."""

    id: int
    line: str


@dataclass(frozen=True, slots=True)
class Group:
    """The late rows of one series in [start, stop) ms with ids up to ``last_id``."""

    series: str
    start: int
    stop: int
    last_id: int


class PointQueue:
    """Lines of line protocol that InfluxDB has not acknowledged yet.

    ``put`` returns only after the rows are on disk (``synchronous=FULL``: survives power
    loss, not just a killed process), which is what allows acking the MQTT message. Each
    thread gets its own connection; WAL lets the writer read while the MQTT side appends.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def put(self, lines: Iterable[str]) -> int:
        """Append lines in one durable transaction; returns how many."""
        db = self._db()
        rows = [(line,) for line in lines]
        if not rows:
            return 0
        with _transaction(db):
            db.executemany("INSERT INTO queue (line) VALUES (?)", rows)
        return len(rows)

    def peek(self, limit: int) -> list[Row]:
        """The oldest ``limit`` rows, in arrival order (they stay queued)."""
        cur = self._db().execute("SELECT id, line FROM queue ORDER BY id LIMIT ?", (limit,))
        return [Row(i, line) for i, line in cur]

    def settle(
        self,
        written: Sequence[Row],
        dead: Sequence[tuple[Row, str, int | None]] = (),
        late: Sequence[tuple[Row, str, int]] = (),
    ) -> None:
        """In one transaction: drop rows InfluxDB acknowledged (or that need no raw write),
        move rows it will never accept to the dead-letter table with the reason and HTTP
        status (kept, not lost), and copy late rows, as (row, series, ts), to the backfill table."""
        if not written and not dead and not late:
            return
        db = self._db()
        now = time.time()
        with _transaction(db):
            db.executemany("INSERT OR REPLACE INTO backfill (id, series, ts, line) VALUES (?, ?, ?, ?)",
                           [(r.id, series, ts, r.line) for r, series, ts in late])
            db.executemany("DELETE FROM queue WHERE id = ?", [(r.id,) for r in written])
            db.executemany(
                "INSERT OR REPLACE INTO dead_letter (id, line, reason, status, at) VALUES (?, ?, ?, ?, ?)",
                [(r.id, r.line, reason, status, now) for r, reason, status in dead],
            )
            db.executemany("DELETE FROM queue WHERE id = ?", [(r.id,) for r, _reason, _status in dead])

    def has(self, n: int) -> bool:
        """True when at least ``n`` rows are queued (cheap: reads no line text)."""
        cur = self._db().execute("SELECT count(*) FROM (SELECT 1 FROM queue LIMIT ?)", (n,))
        return int(cur.fetchone()[0]) >= n

    def depth(self) -> int:
        """Rows waiting to be written."""
        return int(self._db().execute("SELECT count(*) FROM queue").fetchone()[0])

    def dead_letters(self) -> list[tuple[str, str, int | None]]:
        """Every dead-lettered (line, reason, status), oldest first."""
        cur = self._db().execute("SELECT line, reason, status FROM dead_letter ORDER BY id")
        return [(line, reason, status) for line, reason, status in cur]

    def dead_letter_count(self) -> int:
        """How many points were given up on (kept in the table)."""
        return int(self._db().execute("SELECT count(*) FROM dead_letter").fetchone()[0])

    # --- backfill: late points waiting to be aggregated in Python --------------------------

    def backfill_depth(self) -> int:
        """Late points not yet aggregated into the tiers."""
        return int(self._db().execute("SELECT count(*) FROM backfill").fetchone()[0])

    def backfill_groups(self, window_ms: int, limit: int, everything: bool) -> list[tuple[str, int]]:
        """Up to ``limit`` (series, window start) groups ready to aggregate, oldest first.

        A window is ready once a later window of the same series has arrived (points of one
        device arrive in order), or when ``everything`` (no late point is left to arrive).
        """
        cur = self._db().execute(
            """SELECT series, ts - ts % :w AS start FROM backfill AS b
               WHERE :all OR ts - ts % :w < (SELECT max(ts) - max(ts) % :w FROM backfill WHERE series = b.series)
               GROUP BY series, start ORDER BY start, series LIMIT :limit""",
            {"w": window_ms, "all": everything, "limit": limit},
        )
        return [(series, int(start)) for series, start in cur]

    def backfill_rows(self, series: str, start: int, stop: int) -> Iterator[Row]:
        """The late rows of one series in [start, stop) ms, in time order (ties: arrival)."""
        cur = self._db().execute(
            "SELECT id, line FROM backfill WHERE series = ? AND ts >= ? AND ts < ? ORDER BY ts, id",
            (series, start, stop))
        return (Row(i, line) for i, line in cur)

    def backfill_done(self, groups: Sequence[Group], dead: Sequence[tuple[Row, str]] = ()) -> None:
        """Drop the rows of aggregated groups; move rows that cannot be aggregated to the
        dead-letter table. Only the writer thread adds rows, so a group's range is exact."""
        db = self._db()
        now = time.time()
        with _transaction(db):
            db.executemany(
                "INSERT OR REPLACE INTO dead_letter (id, line, reason, status, at) VALUES (?, ?, ?, NULL, ?)",
                [(r.id, r.line, reason, now) for r, reason in dead],
            )
            db.executemany("DELETE FROM backfill WHERE series = ? AND ts >= ? AND ts < ? AND id <= ?",
                           [(g.series, g.start, g.stop, g.last_id) for g in groups])

    def requeue_expired(self) -> int:
        """Move points an older version dead-lettered as beyond the raw retention (422) back into
        the queue, so they reach the tiers now; returns how many."""
        db = self._db()
        with _transaction(db):
            cur = db.execute("SELECT id, line FROM dead_letter WHERE status = 422 AND reason LIKE '%retention%' "
                             "ORDER BY id")
            rows = cur.fetchall()
            db.executemany("INSERT INTO queue (line) VALUES (?)", [(line,) for _id, line in rows])
            db.executemany("DELETE FROM dead_letter WHERE id = ?", [(i,) for i, _line in rows])
        return len(rows)

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error (the stdlib's implicit transactions are off)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
