"""The cache folder's SQLite files: created whole (never seen empty), and each way a file
can be broken named with how to recover (the answer cache end to end:
``tests/plugin/test_plugin_messages.py``)."""

from __future__ import annotations

import sqlite3

import pytest

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.sqlite_files import DamagedFile, Store

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID"


def store(path):
    return Store(path, SCHEMA, what="test store", rebuilt="it starts empty")


def test_a_new_file_is_complete_when_it_appears_and_leaves_nothing_beside_it(tmp_path):
    s = store(tmp_path / "x.sqlite3")
    assert (tmp_path / "x.sqlite3").stat().st_size > 0  # schema and WAL mode written
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("x.sqlite3")) == []
    s.guarded(lambda: s.conn.execute("INSERT INTO t VALUES ('a', 'b')"))
    s.close()
    again = store(tmp_path / "x.sqlite3")  # reopened, not recreated
    assert again.guarded(lambda: again.conn.execute("SELECT v FROM t").fetchall()) == [("b",)]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "the file is empty (0 bytes): a copy cut short, or not written by this tool"),
        (b"not sqlite" * 50, "file is not a database"),
    ],
)
def test_a_broken_file_is_named_with_how_to_recover(tmp_path, content, reason):
    path = tmp_path / "x.sqlite3"
    path.write_bytes(content)
    with pytest.raises(DamagedFile) as info:
        store(path)
    assert str(info.value) == (
        f"--fgbmk-cache: {path} is damaged ({reason}), so it is not a usable test store; "
        "delete the file (it starts empty on the next run) or pass --fgbmk-no-cache"
    )


def test_a_full_disk_is_named_as_such_not_as_damage(tmp_path):
    s = store(tmp_path / "x.sqlite3")
    s.conn.execute("PRAGMA max_page_count=2")  # what a full disk looks like to SQLite
    rows = [(f"k{i}", "v" * 500) for i in range(100)]
    with pytest.raises(ConfigError) as info:
        s.guarded(lambda: s.conn.executemany("INSERT INTO t VALUES (?, ?)", rows))
    assert not isinstance(info.value, DamagedFile)
    assert str(info.value) == (
        f"--fgbmk-cache: {tmp_path / 'x.sqlite3'}: database or disk is full; free space on "
        "its disk (or give another folder with --fgbmk-cache), or pass --fgbmk-no-cache"
    )


def test_a_busy_database_is_waited_for(tmp_path):
    s = store(tmp_path / "x.sqlite3")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert s.guarded(flaky) == "done" and len(calls) == 3
