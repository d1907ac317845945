"""The durable SQLite queue: order, settle, dead letters, survives reopen and a killed writer process."""

from __future__ import annotations

from pathlib import Path
import sqlite3
import subprocess
import sys

from solarmon.bridge.queue import PointQueue


def test_fifo_peek_settle(tmp_path: Path) -> None:
    q = PointQueue(tmp_path / "q.sqlite")
    assert q.put([f"m f={i} {i}" for i in range(10)]) == 10
    rows = q.peek(4)
    assert [r.line for r in rows] == [f"m f={i} {i}" for i in range(4)]
    assert q.peek(4) == rows  # peeking does not consume
    q.settle(rows[:2], [(rows[2], "HTTP 400: field type conflict", 400)])
    assert [r.line for r in q.peek(100)] == [f"m f={i} {i}" for i in (3, 4, 5, 6, 7, 8, 9)]
    assert q.depth() == 7 and q.has(7) and not q.has(8)
    assert q.dead_letters() == [("m f=2 2", "HTTP 400: field type conflict", 400)]
    assert q.dead_letter_count() == 1


def test_ids_never_reused_so_order_is_arrival_order(tmp_path: Path) -> None:
    q = PointQueue(tmp_path / "q.sqlite")
    q.put(["a", "b"])
    q.settle(q.peek(2))
    q.put(["c"])
    (row,) = q.peek(10)
    assert row.line == "c" and row.id == 3


def test_wal_mode_and_full_sync(tmp_path: Path) -> None:
    q = PointQueue(tmp_path / "q.sqlite")
    db = q._db()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: durable across power loss


def test_committed_rows_survive_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    code = (
        "import os, signal, sys\n"
        "from solarmon.bridge.queue import PointQueue\n"
        f"q = PointQueue({str(path)!r})\n"
        "q.put(['m f=1 1', 'm f=2 2'])\n"
        "q._db().execute('BEGIN IMMEDIATE')\n"
        "q._db().execute(\"INSERT INTO queue (line) VALUES ('uncommitted')\")\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    q = PointQueue(path)
    assert [r.line for r in q.peek(10)] == ["m f=1 1", "m f=2 2"]
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_bridge_names_an_unusable_state_dir(tmp_path: Path) -> None:
    import json

    (tmp_path / "token").write_text("t")
    (tmp_path / "blocker").write_text("a file where the state directory should be")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"influx": {"token_file": str(tmp_path / "token")},
                               "bridge": {"state_dir": str(tmp_path / "blocker" / "state")}}))
    proc = subprocess.run([sys.executable, "-m", "solarmon", "bridge", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "bridge.state_dir: cannot open the queue" in proc.stderr and "Traceback" not in proc.stderr
