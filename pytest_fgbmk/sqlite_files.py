"""The SQLite files of the cache folder (the answer cache, the record of checked images):
opened, created and read so that a damaged file is one message saying how to recover.

A file is refused, naming it, when it

* is empty (0 bytes): never one this tool wrote, because a new file is created whole
  (schema and WAL mode written to a temporary file, then hard-linked into place, which
  fails if another process got there first), so a reader never sees a half-made file;
* is not an SQLite database (SQLite: ``file is not a database``);
* has an intact header but damaged pages (SQLite: ``database disk image is malformed``,
  found when a query reads the damaged page, so it surfaces mid-run, through
  :func:`guarded`).

Each is a :class:`DamagedFile` (a :class:`~pytest_fgbmk.errors.ConfigError`): the run
stops with it once, and the fix is to delete the file (it is rebuilt) or to run without
the cache (``--fgbmk-no-cache``). A busy database (another process writing) is waited
for, and a full disk is named as such, never called damaged.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pytest_fgbmk.errors import ConfigError, shown_path

T = TypeVar("T")

#: How long one statement waits for another process's lock, seconds.
BUSY_TIMEOUT_S = 60.0


class DamagedFile(ConfigError):
    """A cache file that SQLite cannot read; the message says how to recover."""

    def __init__(self, path: Path, what: str, reason: str, rebuilt: str) -> None:
        self.path = path
        super().__init__(
            f"--fgbmk-cache: {shown_path(path)} is damaged ({reason}), so it is not a usable "
            f"{what}; delete the file ({rebuilt} on the next run) or pass --fgbmk-no-cache"
        )


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is another process holding the lock (wait), not damage."""
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def retry(fn: Callable[[], T], attempts: int = 20) -> T:
    """``fn()``, retried with backoff while another process holds the database's lock."""
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or i == attempts - 1:
                raise
            time.sleep(min(0.05 * 2**i, 2.0))
    raise AssertionError("unreachable")  # pragma: no cover


class Store:
    """One SQLite file of the cache folder: ``what`` it is (``answer cache``) and what
    deleting it costs (``rebuilt``: ``the answers are asked again``), for the message."""

    def __init__(self, path: Path, schema: str, *, what: str, rebuilt: str) -> None:
        self.path = Path(path)
        self.what = what
        self.rebuilt = rebuilt
        self._schema = schema
        self.conn = self.guarded(self._open)

    def damaged(self, reason: str) -> DamagedFile:
        return DamagedFile(self.path, self.what, reason, self.rebuilt)

    def guarded(self, fn: Callable[[], T]) -> T:
        """``fn()`` (retried while busy); any other SQLite error is :class:`DamagedFile`."""
        try:
            return retry(fn)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
                raise ConfigError(  # the disk, not the file: deleting it would not help
                    f"--fgbmk-cache: {shown_path(self.path)}: {exc}; free space on its disk "
                    "(or give another folder with --fgbmk-cache), or pass --fgbmk-no-cache"
                ) from None
            raise self.damaged(str(exc)) from None

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():
            self._create()
        elif self.path.stat().st_size == 0:
            raise self.damaged(
                "the file is empty (0 bytes): a copy cut short, or not written by this tool"
            )
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            retry(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
            conn.execute("PRAGMA synchronous=NORMAL")
            retry(lambda: conn.execute(self._schema))
        except BaseException:
            conn.close()
            raise
        return conn

    def _create(self) -> None:
        """Write a new, complete file beside ``path`` and link it into place; a file another
        process linked first is kept (theirs is complete too)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex}.new")
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL").fetchone()
                conn.execute(self._schema)
            finally:
                conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links: replace only if still absent
                if not self.path.exists():
                    os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def close(self) -> None:
        self.conn.close()
